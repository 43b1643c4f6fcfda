package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/trustfuse/trustfuse/internal/jsonpos"
)

// loadServeConfig reads the serve configuration at path: JSON in which
// every field must be one serveConfig knows (exact spelling), reported as
// FILE:LINE:COL otherwise; relative paths are then resolved against the
// file's directory. Errors name the file's absolute path.
func loadServeConfig(path string) (*serveConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errServeConfig, err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errServeConfig, err)
	}
	var sc serveConfig
	err = json.Unmarshal(b, &sc)
	if off, ok := jsonpos.SyntaxOffset(b, err); ok {
		line, col := jsonpos.LineCol(b, off)
		return nil, fmt.Errorf("%w: %s:%d:%d: invalid JSON: %w", errServeConfig, abs, line, col, err)
	}
	ix, ierr := jsonpos.Build(b)
	if ierr != nil {
		return nil, fmt.Errorf("%w: %s: %w", errServeConfig, abs, ierr)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		ptr := "/" + strings.ReplaceAll(te.Field, ".", "/")
		line, col := jsonpos.LineCol(b, ix.Locate(ptr))
		want := te.Type.String()
		switch te.Type.Kind() {
		case reflect.Struct, reflect.Pointer:
			want = "object"
		case reflect.Slice:
			want = "array"
		}
		return nil, fmt.Errorf("%w: %s:%d:%d: %s: want a JSON %s, not a %s", errServeConfig, abs, line, col,
			jsonpos.DisplayPath(ptr, ix.Kind), want, te.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errServeConfig, abs, err)
	}
	if err := fieldProblems(abs, b, ix); err != nil {
		return nil, err
	}
	sc.resolvePaths(filepath.Dir(abs))
	return &sc, nil
}

// fieldProblems reports every member of the document that serveConfig
// has no field for, and every repeated key, one FILE:LINE:COL line each in
// file order.
func fieldProblems(file string, data []byte, ix *jsonpos.Index) error {
	type problem struct {
		off int
		msg string
	}
	var ps []problem
	typ := reflect.TypeFor[serveConfig]()
	for ptr, off := range ix.Key {
		parent, name := ptr[:strings.LastIndexByte(ptr, '/')], jsonpos.UnescapePointer(ptr[strings.LastIndexByte(ptr, '/')+1:])
		t, ok := fieldType(typ, parent)
		if !ok || t.Kind() != reflect.Struct {
			continue // the parent itself is unknown (reported) or not an object (json.Unmarshal refused it)
		}
		if _, ok := fieldType(t, "/"+jsonpos.EscapePointer(name)); ok {
			continue
		}
		msg := fmt.Sprintf("%s: unknown field", jsonpos.DisplayPath(ptr, ix.Kind))
		if s := spelledAs(t, name); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		ps = append(ps, problem{off, msg})
	}
	for _, d := range ix.Dups {
		ps = append(ps, problem{d.Off, jsonpos.DisplayPath(d.Ptr, ix.Kind) + ": duplicate field: the same key appears earlier in this object"})
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, func(a, b problem) int { return cmp.Compare(a.off, b.off) })
	lines := make([]string, len(ps))
	for i, p := range ps {
		line, col := jsonpos.LineCol(data, p.off)
		lines[i] = fmt.Sprintf("%s:%d:%d: %s", file, line, col, p.msg)
	}
	return fmt.Errorf("%w: %s (the fields are listed in docs/attestation.md)", errServeConfig, strings.Join(lines, "\n"))
}

// fieldType returns the type JSON pointer ptr designates inside a value of
// type t (pointers dereferenced, struct members by exact JSON name, slice
// elements by index), and false when t has no such member.
func fieldType(t reflect.Type, ptr string) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if ptr == "" {
		return t, true
	}
	tok, rest, _ := strings.Cut(ptr[1:], "/")
	tok = jsonpos.UnescapePointer(tok)
	if rest != "" {
		rest = "/" + rest
	}
	switch t.Kind() {
	case reflect.Slice:
		if _, err := strconv.Atoi(tok); err != nil {
			return nil, false
		}
		return fieldType(t.Elem(), rest)
	case reflect.Struct:
		for f := range t.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == tok {
				return fieldType(f.Type, rest)
			}
		}
	}
	return nil, false
}

// spelledAs returns the JSON name of t's field that name differs from only
// in case (tokenTtl for tokenTTL), or "".
func spelledAs(t reflect.Type, name string) string {
	for f := range t.Fields() {
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); strings.EqualFold(n, name) {
			return n
		}
	}
	return ""
}

// urlScheme matches a value that starts with a URL scheme and "://"
// (postgres://…, redis://…): such a value is not a path.
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// resolvePaths makes every relative file path of sc (and every file:PATH
// secret reference) relative to dir, an absolute directory. A registry
// given as a URL is left as it is.
func (sc *serveConfig) resolvePaths(dir string) {
	path := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	secret := func(ref *string) {
		if f, ok := strings.CutPrefix(*ref, "file:"); ok {
			path(&f)
			*ref = "file:" + f
		}
	}
	if sc.TLS != nil {
		path(&sc.TLS.Cert)
		path(&sc.TLS.Key)
		path(&sc.TLS.ClientCA)
	}
	if !urlScheme.MatchString(sc.Registry) {
		path(&sc.Registry)
	}
	secret(&sc.RegistryKey)
	secret(&sc.NonceKey)
	path(&sc.SigningKey)
	for i := range sc.PublishedKeys {
		path(&sc.PublishedKeys[i])
	}
	if k := sc.KeyAttestation; k != nil {
		path(&k.Roots)
		path(&k.Revocations)
	}
	if ci := sc.CertificateIssuer; ci != nil {
		path(&ci.Cert)
		secret(&ci.Key)
	}
}
