// Package render shows released job results, in the two forms Cohort
// gives them: text for people (Result, what `cohort buyer result` prints)
// and the results document other tools read (ResultsJSON, the demo's
// results.json, documented in README.md; a noised job there ends with its
// "budget": the ρ charged and the buyer's ρ left after it, when the caller
// gives the latter in JobResult.BudgetLeft). JobProgress prints a job's
// changes of state as WatchJob reports them. Every command, the demo and
// any other front end render through this package, so a result reads the
// same everywhere.
//
// The functions only format: they check that a value has the shape its
// kind needs (a matrix of n² entries, a scalar's field) and say so in the
// text or refuse in the document, and never panic on a malformed result.
package render
