package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// registryOptions are the flags naming the release registry and its key.
type registryOptions struct {
	path, keyRef string
}

func (o *registryOptions) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "registry", Usage: "release registry `FILE` (bbolt)", Destination: &o.path},
		&cli.StringFlag{Name: "registry-key", Usage: "server key sealing release keys: `REF` (env:NAME, file:PATH, stdin) " +
			"to 32 bytes as 64 hex digits or base64, e.g. `openssl rand -hex 32`", Destination: &o.keyRef},
	}
}

// open resolves the key and returns the registry.
func (o *registryOptions) open(c *cli.Context) (*attest.Registry, error) {
	if o.path == "" || o.keyRef == "" {
		return nil, usageErrorf(c, "--registry and --registry-key are required")
	}
	key, err := registryKey(c, o.keyRef)
	if err != nil {
		return nil, err
	}
	return attest.OpenRegistry(o.path, key)
}

// registryKey resolves ref to a 32-byte key written as hex or base64.
func registryKey(c *cli.Context, ref string) ([]byte, error) {
	secret, warning, err := keys.ResolveSecret(ref, nil, c.App.Reader)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		fmt.Fprintln(c.App.ErrWriter, appName+": warning: "+warning)
	}
	return decodeKey32(strings.TrimSpace(string(secret)))
}

// decodeKey32 decodes 32 bytes from hex or (raw/padded, std/url) base64.
func decodeKey32(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: want 32 bytes as 64 hex digits or base64", attest.ErrRegistryKey)
}

// stageRegistration stages the release export for path in g (0600: it
// holds the release's attestation key), committed with the other outputs.
func stageRegistration(g *atomicfile.Group, path string, reg *attest.Registration) error {
	if reg == nil {
		return fmt.Errorf("fuse: no registration record")
	}
	b, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return err
	}
	return stageFile(g, path, append(b, '\n'), 0o600)
}

func releasesCommand() *cli.Command {
	o := &registryOptions{}
	return &cli.Command{
		Name:  "releases",
		Usage: "manage the release registry `trustfuse serve` attests against",
		Description: "Releases are registered by `trustfuse fuse --register FILE` (a registry, or a .json export that\n" +
			"`releases add` imports). Release keys are stored sealed with the registry key (AES-256-GCM); see\n" +
			"docs/attestation.md.\n" + flagOrderNote,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add releases exported by `fuse --register FILE.json`",
				ArgsUsage: "EXPORT.json...",
				Flags:     append([]cli.Flag{jsonFlag()}, o.flags()...),
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 1, -1); err != nil {
						return err
					}
					r, err := o.open(c)
					if err != nil {
						return err
					}
					now, err := buildNow(c)
					if err != nil {
						return err
					}
					added := []attest.Release{}
					for _, p := range c.Args().Slice() {
						reg, err := readRegistration(p)
						if err != nil {
							return err
						}
						rel, err := r.Add(*reg, now)
						if err != nil {
							return err
						}
						if wantJSON(c) {
							shown := *rel
							shown.SealedKey = nil
							added = append(added, shown)
							continue
						}
						app, ver := releaseApp(rel)
						fmt.Fprintf(c.App.Writer, "added %s %s %s\n", rel.ID, app, ver)
					}
					if wantJSON(c) {
						// The shape of `releases list --json`.
						return writeJSON(c.App.Writer, added)
					}
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list registered releases",
				Flags: append([]cli.Flag{jsonFlag()}, o.flags()...),
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 0, 0); err != nil {
						return err
					}
					r, err := o.open(c)
					if err != nil {
						return err
					}
					rels, err := r.List()
					if err != nil {
						return err
					}
					if wantJSON(c) {
						if rels == nil {
							rels = []attest.Release{}
						}
						for i := range rels {
							rels[i].SealedKey = nil
						}
						return writeJSON(c.App.Writer, rels)
					}
					return printReleases(c.App.Writer, rels)
				},
			},
			{
				Name:      "revoke",
				Usage:     "revoke a release (by id, or by its `fuse --register` export): its attestations are refused from now on",
				ArgsUsage: "RELEASE-ID|EXPORT.json",
				Flags:     o.flags(),
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 1, 1); err != nil {
						return err
					}
					r, err := o.open(c)
					if err != nil {
						return err
					}
					id := c.Args().First()
					if st, err := os.Stat(id); err == nil && st.Mode().IsRegular() {
						reg, err := readRegistration(id)
						if err != nil {
							return err
						}
						id = reg.ReleaseID()
					}
					now, err := buildNow(c)
					if err != nil {
						return err
					}
					if err := r.Revoke(id, now); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "revoked %s\n", id)
					return nil
				},
			},
		},
	}
}

func readRegistration(path string) (*attest.Registration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reg attest.Registration
	if err := json.Unmarshal(b, &reg); err != nil || reg.Format != attest.RegistrationFormat {
		return nil, fmt.Errorf("%w: %s is not a %s export", attest.ErrRegistry, path, attest.RegistrationFormat)
	}
	return &reg, nil
}

func printReleases(w io.Writer, rels []attest.Release) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPACKAGE\tVERSION\tADDED\tKEY ATTESTATION\tSTATUS")
	for _, r := range rels {
		status := "active"
		if r.Revoked != nil {
			status = "revoked " + r.Revoked.Format(time.RFC3339)
		}
		katt := attest.KeyAttestationOff
		if k := r.KeyAttestation; k != nil && k.Mode != attest.KeyAttestationOff {
			katt = k.Mode + " " + k.MinSecurityLevel
			if k.RequireVerifiedBoot {
				katt += "+boot"
			}
		}
		app, ver := releaseApp(&r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, app, ver, r.Added.Format(time.RFC3339), katt, status)
	}
	return tw.Flush()
}

// releaseApp names a release's app and version: an Android package and
// its versionCode, or an iOS bundle id and "version (build)".
func releaseApp(r *attest.Release) (app, version string) {
	if m := r.IOS; m != nil {
		return m.BundleID, m.Version + " (" + m.Build + ")"
	}
	return r.Measurement.Package, strconv.FormatInt(int64(r.Measurement.VersionCode), 10)
}
