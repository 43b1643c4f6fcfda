package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// signingOptions is the flag group shared by `sign` and `fuse`: which key
// signs the output and which schemes it gets.
type signingOptions struct {
	keystore string
	ksPass   string
	alias    string
	keyPass  string
	v1       string
	minSDK   int
}

func (o *signingOptions) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "keystore", Usage: "signing keystore: PKCS#12 (.p12), JKS or PEM; without it the built-in DEMO key is used", Destination: &o.keystore, EnvVars: []string{"TRUSTFUSE_KEYSTORE"}},
		&cli.StringFlag{Name: "ks-pass", Usage: "keystore password as a reference: env:NAME, file:PATH, stdin (a literal works, with a warning)", Destination: &o.ksPass, EnvVars: []string{"TRUSTFUSE_KS_PASS"}},
		&cli.StringFlag{Name: "ks-key-alias", Usage: "key alias; may be omitted when the keystore holds one key", Destination: &o.alias},
		&cli.StringFlag{Name: "key-pass", Usage: "key password reference (JKS); default: the keystore password", Destination: &o.keyPass},
		&cli.StringFlag{Name: "v1", Value: "auto", Usage: "JAR (v1) signature: auto (only when minSdk < 24), on, off", Destination: &o.v1},
		&cli.IntFlag{Name: "min-sdk", Usage: "override the minSdkVersion read from the manifest when choosing schemes", Destination: &o.minSDK},
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
	return nil
}

// load returns the signing identity, warning on stderr about the demo key
// and literal passwords.
func (o *signingOptions) load(c *cli.Context) (*keys.Signer, error) {
	stderr := c.App.ErrWriter
	if o.keystore == "" {
		fmt.Fprintln(stderr, "trustfuse: WARNING: no --keystore: signing with the built-in DEMO key, whose private key is public. Never ship this APK.")
		return keys.Demo(), nil
	}
	ksPass, warn, err := keys.ResolveSecret(o.ksPass, nil, os.Stdin)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		fmt.Fprintf(stderr, "trustfuse: WARNING: --ks-pass: %s\n", warn)
	}
	keyPass, warn, err := keys.ResolveSecret(o.keyPass, nil, os.Stdin)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		fmt.Fprintf(stderr, "trustfuse: WARNING: --key-pass: %s\n", warn)
	}
	return keys.Load(o.keystore, ksPass, o.alias, keyPass)
}

// apksigOptions returns the signing options for an APK whose manifest says
// minSdkVersion manifestMinSDK.
func (o *signingOptions) apksigOptions(manifestMinSDK int, modified time.Time) apksig.Options {
	min := manifestMinSDK
	if o.minSDK > 0 {
		min = o.minSDK
	}
	return apksig.Options{
		V1:        apksig.V1Mode(o.v1),
		MinSDK:    min,
		CreatedBy: "trustfuse " + version,
		Modified:  modified,
	}
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
