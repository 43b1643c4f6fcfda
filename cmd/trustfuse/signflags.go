package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// signingOptions is the flag group shared by `sign` and `fuse`: which key
// signs the output and which schemes it gets, and for a key rotation the
// lineage and the key rotated from.
type signingOptions struct {
	keystore string
	ksPass   string
	alias    string
	keyPass  string
	v1       string
	minSDK   int
	v4       bool

	lineage     string
	oldKeystore string
	oldKsPass   string
	oldAlias    string
	oldKeyPass  string

	// Set by load when --lineage is given.
	lineageBytes []byte
	oldSigner    *keys.Signer
}

func (o *signingOptions) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "keystore", Usage: "signing keystore: PKCS#12 (.p12), JKS or PEM; without it the built-in DEMO key is used", Destination: &o.keystore, EnvVars: []string{"TRUSTFUSE_KEYSTORE"}},
		&cli.StringFlag{Name: "ks-pass", Usage: "keystore password as a reference: env:NAME, file:PATH, stdin (a literal works, with a warning)", Destination: &o.ksPass, EnvVars: []string{"TRUSTFUSE_KS_PASS"}},
		&cli.StringFlag{Name: "ks-key-alias", Usage: "key alias; may be omitted when the keystore holds one key", Destination: &o.alias},
		&cli.StringFlag{Name: "key-pass", Usage: "key password reference (JKS); default: the keystore password", Destination: &o.keyPass},
		&cli.StringFlag{Name: "v1", Value: "auto", Usage: "JAR (v1) signature: auto (only when minSdk < 24), on, off", Destination: &o.v1},
		&cli.BoolFlag{Name: "v4", Usage: "also write an APK Signature Scheme v4 file, OUT.idsig (adb install --incremental; Android 11+). Without it, " +
			"an OUT.idsig left by an earlier run is removed with the new output: it cannot sign it", Destination: &o.v4},
		&cli.IntFlag{Name: "min-sdk", Usage: "override the minSdkVersion read from the manifest when choosing schemes", Destination: &o.minSDK},
		&cli.StringFlag{Name: "lineage", Usage: "key rotation: signing certificate lineage file (apksigner rotate --out) ending with the --keystore key; v3 is signed with --keystore and carries the lineage, v1 and v2 with --old-keystore", Destination: &o.lineage},
		&cli.StringFlag{Name: "old-keystore", Usage: "key rotation: keystore of the lineage's first (oldest) key, which signs v1 and v2", Destination: &o.oldKeystore},
		&cli.StringFlag{Name: "old-ks-pass", Usage: "password reference of --old-keystore: env:NAME, file:PATH, stdin", Destination: &o.oldKsPass, EnvVars: []string{"TRUSTFUSE_OLD_KS_PASS"}},
		&cli.StringFlag{Name: "old-ks-key-alias", Usage: "key alias in --old-keystore; may be omitted when it holds one key", Destination: &o.oldAlias},
		&cli.StringFlag{Name: "old-key-pass", Usage: "key password reference in --old-keystore (JKS); default: its keystore password", Destination: &o.oldKeyPass},
	}
}

// check validates flag values before anything is read.
func (o *signingOptions) check(c *cli.Context) error {
	switch apksig.V1Mode(o.v1) {
	case apksig.V1Auto, apksig.V1On, apksig.V1Off:
	default:
		return usageErrorf(c, "--v1 %q: want auto, on or off", o.v1)
	}
	if o.keystore == "" && (o.ksPass != "" || o.alias != "" || o.keyPass != "") {
		return usageErrorf(c, "--ks-pass, --ks-key-alias and --key-pass need --keystore")
	}
	if o.oldKeystore == "" && (o.oldKsPass != "" || o.oldAlias != "" || o.oldKeyPass != "") {
		return usageErrorf(c, "--old-ks-pass, --old-ks-key-alias and --old-key-pass need --old-keystore")
	}
	if o.lineage == "" && o.oldKeystore != "" {
		return usageErrorf(c, "--old-keystore needs --lineage: the lineage proves the rotation from the old key to --keystore")
	}
	if o.lineage != "" && (o.keystore == "" || o.oldKeystore == "") {
		return usageErrorf(c, "--lineage needs --keystore (the newest key of the lineage, signs v3) and --old-keystore (its first key, signs v1 and v2)")
	}
	return nil
}

// load returns the signing identity, warning on stderr about the demo key
// and literal passwords. With --lineage it also reads the lineage and loads
// the old key, which apksigOptions then passes on.
func (o *signingOptions) load(c *cli.Context) (*keys.Signer, error) {
	stderr := c.App.ErrWriter
	if o.keystore == "" {
		fmt.Fprintln(stderr, "trustfuse: WARNING: no --keystore: signing with the built-in DEMO key, whose private key is public. Never ship this APK.")
		return keys.Demo(), nil
	}
	signer, err := loadKeystore(stderr, "", o.keystore, o.ksPass, o.alias, o.keyPass)
	if err != nil || o.lineage == "" {
		return signer, err
	}
	b, err := os.ReadFile(o.lineage)
	if err != nil {
		return nil, usageErrorf(c, "--lineage: %w", err)
	}
	if _, err := apksig.ParseLineage(b); err != nil {
		return nil, usageErrorf(c, "--lineage %s: %w", o.lineage, err)
	}
	old, err := loadKeystore(stderr, "old-", o.oldKeystore, o.oldKsPass, o.oldAlias, o.oldKeyPass)
	if err != nil {
		return nil, err
	}
	o.lineageBytes, o.oldSigner = b, old
	return signer, nil
}

// loadKeystore resolves the password references and loads one identity;
// prefix ("" or "old-") names the flags in warnings.
func loadKeystore(stderr io.Writer, prefix, path, ksPassRef, alias, keyPassRef string) (*keys.Signer, error) {
	ksPass, warn, err := keys.ResolveSecret(ksPassRef, nil, os.Stdin)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		fmt.Fprintf(stderr, "trustfuse: WARNING: --%sks-pass: %s\n", prefix, warn)
	}
	keyPass, warn, err := keys.ResolveSecret(keyPassRef, nil, os.Stdin)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		fmt.Fprintf(stderr, "trustfuse: WARNING: --%skey-pass: %s\n", prefix, warn)
	}
	return keys.Load(path, ksPass, alias, keyPass)
}

// apksigOptions returns the signing options for an APK whose manifest says
// minSdkVersion manifestMinSDK.
func (o *signingOptions) apksigOptions(manifestMinSDK int, modified time.Time) apksig.Options {
	min := manifestMinSDK
	if o.minSDK > 0 {
		min = o.minSDK
	}
	opts := apksig.Options{
		V1:        apksig.V1Mode(o.v1),
		MinSDK:    min,
		CreatedBy: "trustfuse " + version,
		Modified:  modified,
		Lineage:   o.lineageBytes,
	}
	if o.oldSigner != nil {
		opts.OldSigner = apksigSigner(o.oldSigner)
	}
	return opts
}

// apksigSigner adapts a loaded identity for pkg/apksig.
func apksigSigner(s *keys.Signer) *apksig.Signer {
	return &apksig.Signer{Key: s.Key, Certs: s.Chain}
}

// buildTime returns the time SOURCE_DATE_EPOCH sets for reproducible
// outputs, or the zero time when it is unset.
func buildTime(c *cli.Context) (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usageErrorf(c, "SOURCE_DATE_EPOCH=%q is not a non-negative integer", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// buildNow is buildTime, or the current time (to the second) when
// SOURCE_DATE_EPOCH is not set.
func buildNow(c *cli.Context) (time.Time, error) {
	t, err := buildTime(c)
	if err == nil && t.IsZero() {
		t = time.Now().UTC().Truncate(time.Second)
	}
	return t, err
}
