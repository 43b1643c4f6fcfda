package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestDocCurrent fails when docs/fusion-set.md is not what the generator
// makes from the embedded schema.
func TestDocCurrent(t *testing.T) {
	want, err := render(fusionset.Schema())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testenv.Root(t), "docs", "fusion-set.md")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go generate ./...", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./...", path)
	}
}

// TestEveryField walks the schema on its own and checks that every field
// of every object has a row in the right section, with its enum values,
// its default and "yes" when it is required.
func TestEveryField(t *testing.T) {
	doc, err := render(fusionset.Schema())
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // heading line -> its text
	for _, part := range strings.Split(string(doc), "\n## ")[1:] {
		head, body, _ := strings.Cut(part, "\n")
		sections[head] = body
	}
	var root map[string]any
	if err := json.Unmarshal(fusionset.Schema(), &root); err != nil {
		t.Fatal(err)
	}
	defs := root["$defs"].(map[string]any)
	deref := func(p map[string]any) (map[string]any, string) {
		ref, _ := p["$ref"].(string)
		name := strings.TrimPrefix(ref, "#/$defs/")
		if ref == "" {
			return p, ""
		}
		return defs[name].(map[string]any), name
	}
	rows := 0
	var walk func(heading string, obj map[string]any, path string)
	walk = func(heading string, obj map[string]any, path string) {
		body, ok := sections[heading]
		if !ok {
			t.Errorf("no section %q", heading)
			return
		}
		required, _ := obj["required"].([]any)
		for name, v := range obj["properties"].(map[string]any) {
			prop := v.(map[string]any)
			target, def := deref(prop)
			var row string
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "| `"+name+"` |") {
					row = line
				}
			}
			if row == "" {
				t.Errorf("%s.%s: no row in section %q", path, name, heading)
				continue
			}
			rows++
			cells := strings.Split(row, " | ")
			isReq := false
			for _, r := range required {
				isReq = isReq || r == name
			}
			if (cells[2] == "yes") != isReq {
				t.Errorf("%s.%s: required cell %q, schema says required=%v", path, name, cells[2], isReq)
			}
			var want []string
			for _, e := range anySlice(target["enum"]) {
				want = append(want, fmt.Sprintf("`%v`", e))
			}
			for _, n := range []map[string]any{target, prop} {
				if d, ok := n["default"]; ok {
					j, _ := json.Marshal(d)
					want = append(want, "`"+string(j)+"`")
				}
			}
			for _, w := range want {
				if !strings.Contains(row, w) {
					t.Errorf("%s.%s: row %q lacks %s", path, name, row, w)
				}
			}
			if target["type"] == "object" {
				child := "`" + path + "." + name + "`"
				if def != "" {
					child = "`" + def + "`"
				}
				walk(fmt.Sprintf(`<a id="%s"></a>%s`, anchor(strings.Trim(child, "`")), child), target, path+"."+name)
			}
		}
	}
	walk(`<a id="top-level"></a>Top level (`+"`$`)", root, "$")
	if rows < 30 {
		t.Errorf("checked %d rows, want every field of the schema (30 or more)", rows)
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
