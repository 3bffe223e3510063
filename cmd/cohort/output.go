package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Every command that prints data takes --json: protobuf messages are
// printed in their canonical JSON mapping (protojson: lowerCamelCase
// fields, bytes in base64, 64-bit integers as strings), everything else as
// an object with the snake_case fields documented on its type. Progress and
// warnings go to stderr, so stdout holds exactly one JSON document (or, for
// streams such as "buyer watch --json", one per line).

// addJSONFlag gives cmd a --json flag that sets *v.
func addJSONFlag(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "json", false, "print the output as JSON (see README \"Scripting\")")
}

// printJSON writes v as indented JSON followed by a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeProtoJSONLine writes m as protobuf JSON on one line, for streams of
// messages.
func writeProtoJSONLine(w io.Writer, m proto.Message) error {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(raw, '\n'))
	return err
}
