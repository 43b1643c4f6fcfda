package report

import (
	"bytes"
	_ "embed" // the JSON Schema
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SchemaID is the $id of the report JSON Schema (draft 2020-12). The
// document validates the report file; its "$defs/statement" validates the
// decoded envelope payload.
const SchemaID = "https://trustfuse.dev/schemas/certified-secure/v1.json"

// statementSchema is the location of the payload's schema.
const statementSchema = SchemaID + "#/$defs/statement"

//go:embed report.schema.json
var schemaJSON []byte

// Schema returns the report JSON Schema (draft 2020-12).
func Schema() []byte { return bytes.Clone(schemaJSON) }

// ValidateFile checks a report file against the schema. It returns a
// *FormatError naming the first offending location.
func ValidateFile(data []byte) error {
	sc, err := compileSchemas()
	if err != nil {
		return err
	}
	return sc.validateFile(data)
}

// ValidateStatement checks a decoded envelope payload (the Statement's
// JSON) against the schema's "$defs/statement". It returns a *FormatError
// whose Field starts with "payload".
func ValidateStatement(payload []byte) error {
	sc, err := compileSchemas()
	if err != nil {
		return err
	}
	return sc.validateStatement(payload)
}

// schemas holds the compiled file and statement schemas. Compiling takes
// a few milliseconds; it is done per call rather than kept in package
// state, once for both when a report is opened.
type schemas struct {
	file, statement *jsonschema.Schema
}

func (sc *schemas) validateFile(data []byte) error { return validate(sc.file, data, "") }

func (sc *schemas) validateStatement(payload []byte) error {
	return validate(sc.statement, payload, "payload")
}

// validate decodes data as one JSON value and validates it against sch.
func validate(sch *jsonschema.Schema, data []byte, prefix string) error {
	doc, err := decodeJSON(data, prefix)
	if err != nil {
		return err
	}
	verr := sch.Validate(doc)
	if verr == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		return fmt.Errorf("report: schema validation: %w", verr)
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	reason := leaf.ErrorKind.LocalizedString(message.NewPrinter(language.English))
	return &FormatError{Offset: -1, Field: prefix + "/" + strings.Join(leaf.InstanceLocation, "/"), Reason: "does not match the schema: " + reason}
}

// compileSchemas compiles the embedded schema, asserting "format"
// (date-time).
func compileSchemas() (*schemas, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("report: embedded schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, fmt.Errorf("report: embedded schema: %w", err)
	}
	var sc schemas
	if sc.file, err = c.Compile(SchemaID); err != nil {
		return nil, fmt.Errorf("report: embedded schema: %w", err)
	}
	if sc.statement, err = c.Compile(statementSchema); err != nil {
		return nil, fmt.Errorf("report: embedded schema: %w", err)
	}
	return &sc, nil
}

// decodeJSON decodes exactly one JSON value (numbers as json.Number, as
// the validator wants), reporting syntax errors with their byte offset.
func decodeJSON(data []byte, prefix string) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err, prefix, int64(len(data)))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FormatError{Offset: dec.InputOffset(), Field: prefix, Reason: "data after the JSON value"}
	}
	return v, nil
}

// jsonError turns a decoding error into a *FormatError with the best
// offset known.
func jsonError(err error, prefix string, at int64) *FormatError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		at = se.Offset
	case errors.As(err, &te):
		at = te.Offset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FormatError{Offset: at, Field: prefix, Reason: "not JSON: unexpected end of data", Err: err}
	}
	return &FormatError{Offset: at, Field: prefix, Reason: "not JSON", Err: err}
}
