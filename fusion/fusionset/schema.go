package fusionset

import (
	"bytes"
	_ "embed" // the JSON Schema
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/trustfuse/trustfuse/internal/jsonpos"
)

// SchemaID is the $id of the Fusion Set JSON Schema (draft 2020-12).
const SchemaID = "https://trustfuse.dev/schemas/fusion-set/v1.json"

//go:generate go run ./gendoc -o ../../docs/fusion-set.md

//go:embed schema.json
var schemaJSON []byte

// Schema returns the Fusion Set JSON Schema (draft 2020-12), for editors
// and documentation. Besides the standard keywords it uses the annotation
// "x-message": the error shown when a value does not match "pattern".
func Schema() []byte { return bytes.Clone(schemaJSON) }

// compiledSchema compiles the embedded schema and returns it with its
// decoded document (to read x-message and the allowed properties).
// Compiling takes about a millisecond; it is done per Load rather than kept
// in a package-level variable.
func compiledSchema() (*jsonschema.Schema, any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, nil, fmt.Errorf("fusionset: embedded schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, nil, fmt.Errorf("fusionset: embedded schema: %w", err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		return nil, nil, fmt.Errorf("fusionset: embedded schema: %w", err)
	}
	return sch, doc, nil
}

// schemaProblems validates doc against the schema and records one problem
// per failed keyword: per missing field, per unknown field (at its key),
// and one for each wrong value.
func schemaProblems(ps *problems, doc any) error {
	sch, schemaDoc, err := compiledSchema()
	if err != nil {
		return err
	}
	verr := sch.Validate(doc)
	if verr == nil {
		return nil
	}
	ve, ok := verr.(*jsonschema.ValidationError)
	if !ok {
		return fmt.Errorf("fusionset: schema validation: %w", verr)
	}
	printer := message.NewPrinter(language.English)
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				leaves(c)
			}
			return
		}
		ptr := jsonpos.Pointer(e.InstanceLocation...)
		node := schemaNode(schemaDoc, e.SchemaURL)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				ps.add(ptr+"/"+jsonpos.EscapePointer(name), "missing required field %q", name)
			}
		case *kind.AdditionalProperties:
			known := propertyNames(node)
			for _, name := range k.Properties {
				msg := fmt.Sprintf("unknown field %q", name)
				if len(known) > 0 {
					msg += "; known fields: " + strings.Join(known, ", ")
				}
				ps.addKey(ptr+"/"+jsonpos.EscapePointer(name), "%s", msg)
			}
		case *kind.Type:
			ps.add(ptr, "must be %s, not %s", article(strings.Join(k.Want, " or ")), article(k.Got))
		case *kind.Enum:
			want := make([]string, len(k.Want))
			for i, w := range k.Want {
				want[i] = fmt.Sprint(w)
			}
			ps.add(ptr, "%s is not one of: %s", quoteValue(k.Got), strings.Join(want, ", "))
		case *kind.Pattern:
			if m, ok := stringField(node, "x-message"); ok {
				ps.add(ptr, "%q %s", k.Got, m)
			} else {
				ps.add(ptr, "%s", k.LocalizedString(printer))
			}
		case *kind.MinLength:
			if k.Want == 1 {
				ps.add(ptr, "must not be empty")
			} else {
				ps.add(ptr, "must be at least %d characters long", k.Want)
			}
		case *kind.MaxLength:
			ps.add(ptr, "must be at most %d characters long, not %d", k.Want, k.Got)
		case *kind.Minimum:
			ps.add(ptr, "%s is too small: the minimum is %s", k.Got.RatString(), k.Want.RatString())
		case *kind.Maximum:
			ps.add(ptr, "%s is too large: the maximum is %s", k.Got.RatString(), k.Want.RatString())
		case *kind.MinItems:
			ps.add(ptr, "must list at least %d item(s)", k.Want)
		case *kind.MaxItems:
			ps.add(ptr, "must list at most %d items, not %d", k.Want, k.Got)
		case *kind.UniqueItems:
			ps.add(ptr+"/"+strconv.Itoa(k.Duplicates[1]), "repeats item %d", k.Duplicates[0])
		default:
			ps.add(ptr, "%s", e.ErrorKind.LocalizedString(printer))
		}
	}
	leaves(ve)
	return nil
}

// schemaNode returns the subschema a schema URL (SchemaID#/json/pointer)
// designates in the decoded schema document, or nil.
func schemaNode(doc any, schemaURL string) map[string]any {
	_, frag, _ := strings.Cut(schemaURL, "#")
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil
	}
	v := doc
	if frag != "" {
		for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[jsonpos.UnescapePointer(tok)]
		}
	}
	m, _ := v.(map[string]any)
	return m
}

// propertyNames lists the properties a subschema declares, sorted.
func propertyNames(node map[string]any) []string {
	props, _ := node["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for n := range props {
		if n != "$schema" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func stringField(node map[string]any, key string) (string, bool) {
	s, ok := node[key].(string)
	return s, ok
}

// article prefixes a JSON type name with "a" or "an".
func article(s string) string {
	switch {
	case s == "null":
		return "null"
	case strings.HasPrefix(s, "a"), strings.HasPrefix(s, "i"), strings.HasPrefix(s, "o"):
		return "an " + s
	}
	return "a " + s
}

// quoteValue formats a JSON value for a message.
func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
