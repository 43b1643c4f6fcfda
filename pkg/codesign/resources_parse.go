package codesign

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// The CodeResources reader streams the XML (encoding/xml tokens, no
// recursion) and keeps only files2 and rules2, checking them against the
// shapes codesign writes as it goes: memory grows with the files2 entries
// alone and nesting cannot exceed the schema's, whatever the input.
// codesign writes CodeResources as an XML property list; binary and
// OpenStep plists are refused.

// plistReader reads the elements of an XML property list.
type plistReader struct {
	d *xml.Decoder
}

// errEnd reports the end element closing the current container.
var errEnd = errors.New("end of container")

// next returns the next start element, or errEnd at an end element; it
// passes over whitespace, comments, processing instructions and the
// DOCTYPE, and refuses other text.
func (r *plistReader) next() (xml.StartElement, error) {
	for {
		tok, err := r.d.Token()
		if err != nil {
			if err == io.EOF {
				return xml.StartElement{}, resourceFormatErr("ends early")
			}
			return xml.StartElement{}, resourceFormatErr("not XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errEnd
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, resourceFormatErr("text %.20q outside an element", t)
			}
		}
	}
}

// text returns the character data of the element just started, which
// must hold no elements.
func (r *plistReader) text(name string) (string, error) {
	var b strings.Builder
	for {
		tok, err := r.d.Token()
		if err != nil {
			return "", resourceFormatErr("<%s>: %v", name, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", resourceFormatErr("<%s> inside <%s>", t.Name.Local, name)
		}
	}
}

// skip passes over the element just started and its content, without
// recursion.
func (r *plistReader) skip() error {
	for depth := 1; depth > 0; {
		tok, err := r.d.Token()
		if err != nil {
			return resourceFormatErr("not XML: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// dict reads the entries of the <dict> just started, calling value for
// each key with the start element of its value; value consumes the value.
func (r *plistReader) dict(where string, value func(key string, v xml.StartElement) error) error {
	for {
		k, err := r.next()
		if err == errEnd {
			return nil
		}
		if err != nil {
			return err
		}
		if k.Name.Local != "key" {
			return resourceFormatErr("%s: <%s> where a <key> belongs", where, k.Name.Local)
		}
		key, err := r.text("key")
		if err != nil {
			return err
		}
		v, err := r.next()
		if err != nil {
			return resourceFormatErr("%s: key %q has no value", where, key)
		}
		if err := value(key, v); err != nil {
			return err
		}
	}
}

// scalar reads the value element v (just started) of a plist scalar:
// bool, []byte, string or float64 (integer or real).
func (r *plistReader) scalar(where string, v xml.StartElement) (any, error) {
	name := v.Name.Local
	switch name {
	case "true", "false":
		if err := r.skip(); err != nil {
			return nil, err
		}
		return name == "true", nil
	case "data", "string", "integer", "real":
	default:
		return nil, resourceFormatErr("%s: <%s> where a plain value belongs", where, name)
	}
	s, err := r.text(name)
	if err != nil {
		return nil, err
	}
	switch name {
	case "data":
		d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, resourceFormatErr("%s: bad base64 data", where)
		}
		return d, nil
	case "integer", "real":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, resourceFormatErr("%s: bad number %.20q", where, s)
		}
		return f, nil
	}
	return s, nil
}

// parseCodeResources decodes files2 and rules2 of a CodeResources plist.
func parseCodeResources(b []byte) (map[string]sealEntry, []resourceRule, error) {
	if len(b) > MaxCodeResourcesSize {
		return nil, nil, resourceFormatErr("%d bytes exceeds the %d-byte limit", len(b), MaxCodeResourcesSize)
	}
	if bytes.HasPrefix(b, []byte("bplist")) {
		return nil, nil, resourceFormatErr("a binary property list (codesign writes XML)")
	}
	r := &plistReader{d: xml.NewDecoder(bytes.NewReader(b))}
	for _, want := range []string{"plist", "dict"} {
		el, err := r.next()
		if err == errEnd {
			err = resourceFormatErr("no <%s>", want)
		}
		if err != nil {
			return nil, nil, err
		}
		if el.Name.Local != want {
			return nil, nil, resourceFormatErr("<%s> where <%s> belongs", el.Name.Local, want)
		}
	}
	var (
		seal  map[string]sealEntry
		rules []resourceRule
	)
	top := map[string]bool{}
	err := r.dict("top level", func(key string, v xml.StartElement) error {
		if top[key] {
			return resourceFormatErr("key %q given twice", key)
		}
		top[key] = true
		switch key {
		case "files2":
			if v.Name.Local != "dict" {
				return resourceFormatErr("files2 is a <%s>", v.Name.Local)
			}
			seal = map[string]sealEntry{}
			return r.dict("files2", func(p string, v xml.StartElement) error {
				if _, dup := seal[p]; dup {
					return resourceFormatErr("files2: key %q given twice", p)
				}
				if len(seal) == maxSealEntries {
					return resourceFormatErr("more than %d files2 entries", maxSealEntries)
				}
				e, err := r.sealEntry(p, v)
				seal[p] = e
				return err
			})
		case "rules2":
			if v.Name.Local != "dict" {
				return resourceFormatErr("rules2 is a <%s>", v.Name.Local)
			}
			rules = []resourceRule{}
			patterns := map[string]bool{}
			return r.dict("rules2", func(pat string, v xml.StartElement) error {
				if patterns[pat] {
					return resourceFormatErr("rules2: key %q given twice", pat)
				}
				patterns[pat] = true
				if len(rules) == maxResourceRules {
					return resourceFormatErr("more than %d rules2 entries", maxResourceRules)
				}
				rule, err := r.rule(pat, v)
				rules = append(rules, rule)
				return err
			})
		}
		return r.skip()
	})
	if err != nil {
		return nil, nil, err
	}
	if seal == nil || rules == nil {
		return nil, nil, resourceFormatErr("no files2 or rules2 (a version 1 seal only, which iOS no longer accepts)")
	}
	// The sorted order of the rules decides ties; it must not depend on
	// the file's order.
	sortRules(rules)
	return seal, rules, nil
}

// sealEntry reads the files2 value v of path p.
func (r *plistReader) sealEntry(p string, v xml.StartElement) (sealEntry, error) {
	where := "files2 entry " + strconv.Quote(p)
	if v.Name.Local == "data" { // codesign's short form of { hash }
		x, err := r.scalar(where, v)
		h, _ := x.([]byte)
		return sealEntry{kind: sealSHA1, digest: h}, err
	}
	if v.Name.Local != "dict" {
		return sealEntry{}, resourceFormatErr("%s is a <%s>, not data or a dictionary", where, v.Name.Local)
	}
	var (
		e                   sealEntry
		hash, hash2, cdhash []byte
		isSymlink           bool
	)
	err := r.dict(where, func(k string, v xml.StartElement) error {
		x, err := r.scalar(where, v)
		if err != nil {
			return err
		}
		ok := true
		switch k {
		case "hash":
			hash, ok = x.([]byte)
		case "hash2":
			hash2, ok = x.([]byte)
		case "cdhash":
			cdhash, ok = x.([]byte)
		case "optional":
			e.optional, ok = x.(bool)
		case "symlink":
			e.symlink, ok = x.(string)
			isSymlink = true
		} // requirement and future keys: not compared
		if !ok {
			return resourceFormatErr("%s: %s is a <%s>", where, k, v.Name.Local)
		}
		return nil
	})
	switch {
	case err != nil:
	case cdhash != nil:
		e.kind, e.digest = sealCDHash, cdhash
	case isSymlink:
		e.kind = sealSymlink
	case hash2 != nil:
		e.kind, e.digest = sealSHA256, hash2
	case hash != nil:
		e.kind, e.digest = sealSHA1, hash
	default:
		err = resourceFormatErr("%s has no hash, cdhash or symlink", where)
	}
	return e, err
}

// rule reads the rules2 value v of pattern pat.
func (r *plistReader) rule(pat string, v xml.StartElement) (resourceRule, error) {
	where := "rules2 pattern " + strconv.Quote(pat)
	rule := resourceRule{pattern: pat}
	if len(pat) > maxRulePattern {
		return rule, resourceFormatErr("a rules2 pattern of %d bytes exceeds the limit of %d", len(pat), maxRulePattern)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return rule, resourceFormatErr("%s: %v", where, err)
	}
	rule.re = re
	if v.Name.Local != "dict" {
		x, err := r.scalar(where, v)
		b, ok := x.(bool)
		if err == nil && !ok {
			err = resourceFormatErr("%s is a <%s>", where, v.Name.Local)
		}
		rule.omit = !b
		return rule, err
	}
	err = r.dict(where, func(k string, v xml.StartElement) error {
		x, err := r.scalar(where, v)
		if err != nil {
			return err
		}
		ok := true
		switch k {
		case "omit":
			rule.omit, ok = x.(bool)
		case "optional":
			rule.optional, ok = x.(bool)
		case "nested":
			rule.nested, ok = x.(bool)
		case "weight":
			rule.weight, ok = x.(float64)
		}
		if !ok {
			return resourceFormatErr("%s: %s is a <%s>", where, k, v.Name.Local)
		}
		return nil
	})
	return rule, err
}
