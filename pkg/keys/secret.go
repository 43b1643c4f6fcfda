package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trustfuse/trustfuse/internal/readlimit"
)

// maxSecretLen caps what a secret reference may yield: passwords are short,
// and a "file:" pointing at a large file is a mistake, not a password.
const maxSecretLen = 64 << 10

// LiteralWarning is the warning [ResolveSecret] returns for literal secrets.
const LiteralWarning = "a literal password was given on the command line; it ends up in shell history and process lists: use env:NAME, file:PATH or stdin instead"

// ResolveSecret turns a secret reference into the secret:
//
//	env:NAME    the environment variable NAME, exactly (no TRUSTFUSE_ prefix is added)
//	file:PATH   the file's contents, one trailing "\n" or "\r\n" removed
//	stdin       one line read from stdin (without its line ending)
//	pass:TEXT   TEXT itself, with a warning
//	TEXT        any other non-empty reference is a literal, with a warning
//
// An empty ref yields an empty secret and no warning. env looks variables up
// (nil means os.LookupEnv); stdin is read one byte at a time so a second
// "stdin" reference can read the next line. The warning, when not empty, is
// meant for stderr. Errors are *CredentialError with Kind ErrSecretRef; they
// name the reference but never contain the secret.
func ResolveSecret(ref string, env func(string) (string, bool), stdin io.Reader) (secret []byte, warning string, err error) {
	if env == nil {
		env = os.LookupEnv
	}
	switch {
	case ref == "":
		return nil, "", nil
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		if name == "" {
			return nil, "", secretErr(ref, "no variable name after env:", nil)
		}
		v, ok := env(name)
		if !ok {
			return nil, "", secretErr(ref, "environment variable "+name+" is not set", nil)
		}
		if v == "" {
			warning = "environment variable " + name + " is empty"
		}
		return []byte(v), warning, nil
	case strings.HasPrefix(ref, "file:"):
		path := strings.TrimPrefix(ref, "file:")
		if path == "" {
			return nil, "", secretErr(ref, "no path after file:", nil)
		}
		b, err := readlimit.File(path, maxSecretLen)
		if errors.Is(err, readlimit.ErrTooLarge) {
			err = fmt.Errorf("%s: %w", path, errTooLong)
		}
		if err != nil {
			// The *PathError names the path and the errno only.
			return nil, "", secretErr(ref, "cannot read secret file", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		return b, "", nil
	case ref == "stdin":
		if stdin == nil {
			return nil, "", secretErr(ref, "no standard input", nil)
		}
		b, err := readLine(stdin, maxSecretLen)
		if err != nil {
			return nil, "", secretErr(ref, "cannot read a line from standard input", err)
		}
		return b, "", nil
	case strings.HasPrefix(ref, "pass:"):
		return []byte(strings.TrimPrefix(ref, "pass:")), LiteralWarning, nil
	default:
		return []byte(ref), LiteralWarning, nil
	}
}

func secretErr(ref, reason string, cause error) *CredentialError {
	return &CredentialError{Kind: ErrSecretRef, Source: ref, Reason: ref + ": " + reason, Err: cause}
}

var errTooLong = errors.New("longer than 64 KiB")

// readLine reads up to and excluding the next "\n" (and a "\r" before it)
// without reading past it. EOF after some bytes ends the line; EOF before
// any byte is an error.
func readLine(r io.Reader, limit int) ([]byte, error) {
	var line []byte
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			if len(line) >= limit {
				return nil, errTooLong
			}
			line = append(line, one[0])
			continue
		}
		if err == io.EOF {
			if len(line) == 0 {
				return nil, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
