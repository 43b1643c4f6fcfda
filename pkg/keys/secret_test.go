package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSecret(t *testing.T) {
	const secret = "s3cr3t-Value-81"
	dir := t.TempDir()
	plain := filepath.Join(dir, "pw")
	mustWrite(t, plain, []byte(secret+"\n"))
	crlf := filepath.Join(dir, "pw-crlf")
	mustWrite(t, crlf, []byte(secret+"\r\n"))
	twoLines := filepath.Join(dir, "pw-two")
	mustWrite(t, twoLines, []byte(secret+"\n\n"))
	big := filepath.Join(dir, "big")
	mustWrite(t, big, make([]byte, maxSecretLen+1))
	env := func(name string) (string, bool) {
		switch name {
		case "KS_PASS":
			return secret, true
		case "EMPTY":
			return "", true
		}
		return "", false
	}
	tests := []struct {
		name    string
		ref     string
		stdin   string
		want    string
		warn    string // substring of the warning; "" = no warning
		wantErr error
		errHas  string
	}{
		{"env", "env:KS_PASS", "", secret, "", nil, ""},
		{"env reads exactly NAME", "env:TRUSTFUSE_KS_PASS", "", "", "", ErrSecretRef, "TRUSTFUSE_KS_PASS is not set"},
		{"env missing", "env:NOPE", "", "", "", ErrSecretRef, "environment variable NOPE is not set"},
		{"env empty", "env:EMPTY", "", "", "is empty", nil, ""},
		{"env no name", "env:", "", "", "", ErrSecretRef, "no variable name"},
		{"file", "file:" + plain, "", secret, "", nil, ""},
		{"file CRLF", "file:" + crlf, "", secret, "", nil, ""},
		{"file only one newline trimmed", "file:" + twoLines, "", secret + "\n", "", nil, ""},
		{"file missing", "file:" + filepath.Join(dir, "nope"), "", "", "", ErrSecretRef, "cannot read secret file"},
		{"file too big", "file:" + big, "", "", "", ErrSecretRef, "longer than 64 KiB"},
		{"stdin", "stdin", secret + "\nnext line\n", secret, "", nil, ""},
		{"stdin CRLF no final newline", "stdin", secret + "\r", secret, "", nil, ""},
		{"stdin empty", "stdin", "", "", "", ErrSecretRef, "standard input"},
		{"pass literal", "pass:" + secret, "", secret, "shell history", nil, ""},
		{"bare literal", secret, "", secret, "process lists", nil, ""},
		{"literal with colon", "abc:" + secret, "", "abc:" + secret, "shell history", nil, ""},
		{"empty", "", "", "", "", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warn, err := ResolveSecret(tc.ref, env, strings.NewReader(tc.stdin))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !IsCredential(err) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not contain %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveSecret: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("secret %q, want %q", got, tc.want)
			}
			if (tc.warn == "") != (warn == "") || !strings.Contains(warn, tc.warn) {
				t.Errorf("warning %q, want one containing %q", warn, tc.warn)
			}
			if strings.Contains(warn, secret) {
				t.Errorf("warning %q contains the secret", warn)
			}
		})
	}
}

// Two "stdin" references (store and key password) read consecutive lines.
func TestResolveSecretStdinTwice(t *testing.T) {
	in := strings.NewReader("store-pw\nkey-pw\n")
	a, _, err := ResolveSecret("stdin", nil, in)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ResolveSecret("stdin", nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != "store-pw" || string(b) != "key-pw" {
		t.Errorf("got %q, %q", a, b)
	}
}

// env:NAME with a nil lookup function reads the process environment.
func TestResolveSecretProcessEnv(t *testing.T) {
	t.Setenv("TRUSTFUSE_TEST_KS_PASS", "from-env")
	got, _, err := ResolveSecret("env:TRUSTFUSE_TEST_KS_PASS", nil, nil)
	if err != nil || string(got) != "from-env" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, _, err := ResolveSecret("stdin", nil, nil); !errors.Is(err, ErrSecretRef) {
		t.Errorf("stdin with no reader: err = %v", err)
	}
	// A secret file the test cannot read (permissions) is an error naming
	// the file, not its contents.
	if os.Geteuid() == 0 {
		return // root reads anything
	}
	p := filepath.Join(t.TempDir(), "locked")
	mustWrite(t, p, []byte("x"))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ResolveSecret("file:"+p, nil, nil); !errors.Is(err, ErrSecretRef) || !errors.Is(err, os.ErrPermission) {
		t.Errorf("unreadable file: err = %v", err)
	}
}
