package circuits

import "github.com/consensys/gnark/logger"

// gnark logs compile and prove progress to stdout by default; Cohort's
// libraries stay silent and leave logging to the binaries.
func init() { logger.Disable() }
