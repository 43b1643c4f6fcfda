package keys

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel kinds of credential problems. Every error returned by [Load],
// [Parse], [LoadPEM] and [ResolveSecret] is a *[CredentialError] whose Kind is
// one of these, so errors.Is(err, keys.ErrBadPassword) works, and the CLI
// maps any *CredentialError (see [IsCredential]) to exit code 4
// ("signing credential problem").
var (
	// ErrBadPassword: the store password or the key password is wrong (or
	// the keystore was altered: both break the same integrity check).
	ErrBadPassword = errors.New("keys: wrong password")
	// ErrAlias: the requested alias is not a private-key entry of the
	// keystore, or no alias was given and the keystore holds several keys.
	// CredentialError.Aliases lists the private-key aliases available.
	ErrAlias = errors.New("keys: alias not found")
	// ErrUnsupportedKey: the key is not RSA 2048–4096 or ECDSA P-256/P-384.
	ErrUnsupportedKey = errors.New("keys: unsupported key")
	// ErrKeyMismatch: no certificate carries the private key's public key.
	ErrKeyMismatch = errors.New("keys: certificate does not match private key")
	// ErrFormat: the input is not a PKCS#12, JKS or PEM keystore, or it is
	// malformed, or it uses a feature this package does not read.
	ErrFormat = errors.New("keys: not a keystore")
	// ErrUnreadable: the keystore file cannot be read.
	ErrUnreadable = errors.New("keys: cannot read keystore")
	// ErrSecretRef: a secret reference cannot be resolved (environment
	// variable not set, secret file unreadable, stdin empty).
	ErrSecretRef = errors.New("keys: cannot resolve secret")
)

// CredentialError describes a signing credential problem. Its message names
// the file, alias or secret reference involved but never a password or other
// secret value.
type CredentialError struct {
	// Kind is one of the package's sentinel errors (ErrBadPassword, …).
	Kind error
	// Source is the keystore path, "PEM", or the secret reference
	// ("env:KS_PASS", "file:/run/secrets/ks", "stdin"); never a literal.
	Source string
	// Alias is the alias that was asked for, if any.
	Alias string
	// Aliases lists the private-key aliases the keystore holds (ErrAlias).
	Aliases []string
	// Reason is the human-readable message without the "keys: " prefix.
	Reason string
	// Err is the underlying cause, if any (a *FormatError, an I/O error, a
	// library's parse error). Library errors are kept only where they cannot
	// contain a secret.
	Err error
}

// Error returns "keys: <reason>[: <cause>]".
func (e *CredentialError) Error() string {
	var b strings.Builder
	b.WriteString("keys: ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "keys: ")) // our own *FormatError
	}
	return b.String()
}

// Unwrap returns the Kind sentinel and the underlying cause, so errors.Is
// matches both.
func (e *CredentialError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// IsCredential reports whether err is (or wraps) a *CredentialError, i.e. a
// problem with the signing credentials that the CLI reports with exit code 4.
func IsCredential(err error) bool {
	var ce *CredentialError
	return errors.As(err, &ce)
}

// FormatError reports malformed keystore bytes at a byte offset.
type FormatError struct {
	// Format is "jks", "pkcs12" or "pem".
	Format string
	// Offset is the byte offset in the input where the problem was found.
	Offset int64
	// Msg says what is wrong.
	Msg string
}

// Error returns "keys: <format>: offset <n>: <msg>".
func (e *FormatError) Error() string {
	return fmt.Sprintf("keys: %s: offset %d: %s", e.Format, e.Offset, e.Msg)
}

func badPassword(src, detail string) *CredentialError {
	r := "wrong password for " + src
	if detail != "" {
		r += " (" + detail + ")"
	}
	return &CredentialError{Kind: ErrBadPassword, Source: src, Reason: r}
}

func formatErr(src, reason string, cause error) *CredentialError {
	return &CredentialError{Kind: ErrFormat, Source: src, Reason: src + ": " + reason, Err: cause}
}

// aliasErr reports a missing alias (alias != "") or an ambiguous choice
// (alias == "") and lists the available private-key aliases.
func aliasErr(src, alias string, aliases []string, note string) *CredentialError {
	var r string
	switch {
	case alias == "":
		r = fmt.Sprintf("%s holds %d private keys; choose one with an alias", src, len(aliases))
	default:
		r = fmt.Sprintf("alias %q not found in %s", alias, src)
	}
	switch {
	case len(aliases) > 0:
		r += "; private-key aliases: " + strings.Join(aliases, ", ")
		if note != "" {
			r += " (" + note + ")"
		}
	case note != "":
		r += ": " + note
	default:
		r += "; it holds no named private key"
	}
	return &CredentialError{Kind: ErrAlias, Source: src, Alias: alias, Aliases: aliases, Reason: r}
}
