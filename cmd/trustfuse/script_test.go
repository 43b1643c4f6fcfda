package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

var updateScripts = flag.Bool("update", false, "rewrite cmp files embedded in testdata/script/*.txtar")

// sourceDateEpoch is the fixed clock every script runs with (2023-11-14T22:13:20Z).
const sourceDateEpoch = "1700000000"

// TestMain registers the app as the "trustfuse" command of the scripts: the
// test binary re-executes itself under that name and runs main's run.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		appName: func() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar. Scripts see:
//
//	$TESTDATA       the repository's testdata directory (fixtures)
//	$APIDEMOS       the real ApiDemos-debug.apk (v1+v2, minSdk 17)
//	$SETTINGS_APK   the real settings_apk-debug.apk (v2 only, minSdk 26)
//	$GOVERSION      runtime.Version() of the test binary
//	$IOS_NOROOM     Demo.ipa whose executable has no header room (not in -short)
//	$IOS_ENCRYPTED  Demo.ipa with a FairPlay-encrypted executable (not in -short)
//	$DOCS           the repository's docs directory (recipes the scripts run)
//	$SOURCE_DATE_EPOCH, and HOME set to $WORK/home
//
// and the extra commands exits (see cmdExits) and json-eq (see cmdJSONEq).
func TestScripts(t *testing.T) {
	root := testenv.Root(t)
	apiDemos := testenv.RealApp(t, "ApiDemos-debug.apk")
	settings := testenv.RealApp(t, "settings_apk-debug.apk")
	// iOS inputs fuse must refuse, made from Demo.ipa (full mode only).
	ios := map[string]string{}
	if !testing.Short() {
		dir := t.TempDir()
		demo, err := os.ReadFile(testenv.IOSFixture(t, "Demo"))
		if err != nil {
			t.Fatal(err)
		}
		for env, exe := range map[string][]byte{
			"IOS_NOROOM":    testenv.FillHeaderPadding(t, demo, 40),
			"IOS_ENCRYPTED": testenv.SetCryptID(t, demo),
		} {
			ios[env] = filepath.Join(dir, strings.ToLower(env)+".ipa")
			testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), ios[env], map[string][]byte{"Payload/Demo.app/Demo": exe})
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *updateScripts,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			if err := os.Mkdir(home, 0o700); err != nil {
				return err
			}
			env.Setenv("HOME", home)
			env.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
			env.Setenv("TESTDATA", filepath.Join(root, "testdata"))
			env.Setenv("FUSION_EXAMPLES", filepath.Join(root, "fusion", "examples"))
			env.Setenv("DOCS", filepath.Join(root, "docs"))
			env.Setenv("APIDEMOS", apiDemos)
			env.Setenv("SETTINGS_APK", settings)
			env.Setenv("GOVERSION", runtime.Version())
			for k, v := range ios {
				env.Setenv(k, v)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"json-eq": cmdJSONEq,
			"mkzip":   cmdMkzip,
			"exits":   cmdExits,
		},
	})
}

// cmdExits runs a command like exec and checks its exit code, which exec
// cannot (`! exec` accepts any failure):
//
//	exits 2 trustfuse frobnicate
//	stderr '^trustfuse: unknown command'
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits code program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad exit code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exits: %s exited with %d, want %d", args[1], got, want)
	}
}

// cmdJSONEq checks one field of the JSON on the last command's stdout:
//
//	json-eq .version dev
//	json-eq .signers.0.scheme v2
//	! json-eq .commit none
//
// The path is dot-separated object keys and array indexes ("." is the whole
// document). A string field is compared as is; any other value by its compact
// JSON encoding (json-eq .ok true, json-eq .size 42, json-eq .x null).
func cmdJSONEq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: json-eq .path value")
	}
	var doc any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &doc); err != nil {
		ts.Fatalf("json-eq: stdout is not JSON: %v", err)
	}
	got, err := jsonPath(doc, args[0])
	if err != nil {
		ts.Fatalf("json-eq: %v", err)
	}
	switch {
	case got == args[1] && neg:
		ts.Fatalf("json-eq: %s is %q, want anything else", args[0], got)
	case got != args[1] && !neg:
		ts.Fatalf("json-eq: %s is %q, want %q", args[0], got, args[1])
	}
}

// jsonPath returns the value at path in doc, formatted as cmdJSONEq compares it.
func jsonPath(doc any, path string) (string, error) {
	if !strings.HasPrefix(path, ".") {
		return "", fmt.Errorf("path %q must start with '.'", path)
	}
	v := doc
	if path != "." {
		for _, key := range strings.Split(path[1:], ".") {
			switch node := v.(type) {
			case map[string]any:
				next, ok := node[key]
				if !ok {
					return "", fmt.Errorf("%s: no key %q", path, key)
				}
				v = next
			case []any:
				i, err := strconv.Atoi(key)
				if err != nil || i < 0 || i >= len(node) {
					return "", fmt.Errorf("%s: index %q out of range [0,%d)", path, key, len(node))
				}
				v = node[i]
			default:
				return "", fmt.Errorf("%s: cannot select %q in %T", path, key, v)
			}
		}
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func TestJSONPath(t *testing.T) {
	const doc = `{"a":"x","n":42,"b":true,"z":null,"l":[{"k":"v"},7],"o":{"p":{"q":"deep"}}}`
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
		wantErr    bool
	}{
		{path: ".a", want: "x"},
		{path: ".n", want: "42"},
		{path: ".b", want: "true"},
		{path: ".z", want: "null"},
		{path: ".l.0.k", want: "v"},
		{path: ".l.1", want: "7"},
		{path: ".o.p.q", want: "deep"},
		{path: ".o.p", want: `{"q":"deep"}`},
		{path: ".", want: `{"a":"x","b":true,"l":[{"k":"v"},7],"n":42,"o":{"p":{"q":"deep"}},"z":null}`},
		{path: ".missing", wantErr: true},
		{path: ".l.2", wantErr: true},
		{path: ".l.x", wantErr: true},
		{path: ".a.b", wantErr: true},
		{path: "a", wantErr: true},
	}
	for _, tt := range tests {
		got, err := jsonPath(v, tt.path)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("jsonPath(%s) = %q, %v; want %q, error %v", tt.path, got, err, tt.want, tt.wantErr)
		}
	}
}

// cmdMkzip writes a ZIP (with Go's archive/zip, which allows what ours
// refuses) whose entries have the given names and the content "x":
//
//	mkzip dup.apk classes.dex classes.dex
func cmdMkzip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: mkzip file.zip [entry-name...]")
	}
	b, err := makeZip(args[1:]...)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}

// makeZip returns a ZIP whose entries have the given names (duplicates
// allowed) and the content "x".
func makeZip(names ...string) ([]byte, error) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range names {
		fw, err := w.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write([]byte("x")); err != nil {
			return nil, err
		}
	}
	err := w.Close()
	return buf.Bytes(), err
}
