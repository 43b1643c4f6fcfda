package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
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
		&cli.StringFlag{Name: "registry", Usage: "release registry: a bbolt `FILE`, or a PostgreSQL URL postgres://USER@HOST/DB " +
			"(password from PGPASSWORD or ~/.pgpass rather than the URL)", Destination: &o.path},
		&cli.StringFlag{Name: "registry-key", Usage: "server key sealing release keys: `REF` (env:NAME, file:PATH, stdin) " +
			"to 32 bytes as 64 hex digits or base64, e.g. `openssl rand -hex 32`", Destination: &o.keyRef},
	}
}

// open resolves the key and returns the registry; create lets a missing
// one be created (adding releases), otherwise it is an error.
func (o *registryOptions) open(c *cli.Context, create bool) (attest.Registry, error) {
	if o.path == "" || o.keyRef == "" {
		return nil, usageErrorf(c, "--registry and --registry-key are required")
	}
	key, err := registryKey(c, o.keyRef)
	if err != nil {
		return nil, err
	}
	return attest.OpenRegistry(o.path, key, create)
}

// auditOptions are the flags recorded in a release's audit trail.
type auditOptions struct {
	by, reason string
}

func (a *auditOptions) flags(reasonRequired bool) []cli.Flag {
	fs := []cli.Flag{&cli.StringFlag{Name: "by", Usage: "who does this, recorded in the release's audit trail " +
		"(default: the OS user@host)", Destination: &a.by}}
	if reasonRequired {
		fs = append(fs, &cli.StringFlag{Name: "reason", Usage: "why, recorded in the audit trail (required)", Destination: &a.reason})
	}
	return fs
}

// event returns the audit event for now, checking --reason when required.
func (a *auditOptions) event(c *cli.Context, now time.Time, reasonRequired bool) (attest.Event, error) {
	if reasonRequired && strings.TrimSpace(a.reason) == "" {
		return attest.Event{}, usageErrorf(c, "--reason is required: say why, it is kept in the release's audit trail")
	}
	by := a.by
	if by == "" {
		by = defaultActor()
	}
	return attest.Event{At: now, By: by, Reason: a.reason}, nil
}

// defaultActor is the OS user@host, the audit trail's default --by.
func defaultActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return name + "@" + host
}

// listedRelease is a release as `releases list --json` and `add --json`
// show it: the record without its sealed key, and its status.
type listedRelease struct {
	attest.Release
	Status string `json:"status"`
}

func listed(rel *attest.Release) listedRelease {
	r := *rel
	r.SealedKey = nil
	return listedRelease{r, rel.Status()}
}

// releaseArg returns the release id named by arg: an id, or a
// `fuse --register` export.
func releaseArg(arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		reg, err := readRegistration(arg)
		if err != nil {
			return "", err
		}
		return reg.ReleaseID(), nil
	}
	return arg, nil
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
	a := &auditOptions{}
	return &cli.Command{
		Name:  "releases",
		Usage: "manage the release registry `trustfuse serve` attests against",
		Description: "Releases are registered by `trustfuse fuse --register FILE` (a registry, or a .json export that\n" +
			"`releases add` imports). Release keys are stored sealed with the registry key (AES-256-GCM); the registry\n" +
			"keeps a check value of its key and refuses another (exit 4). A revoked release stays revoked until\n" +
			"`releases reinstate`; every change is recorded in the release's audit trail (`list --json`). See\n" +
			"docs/attestation.md.\n" + flagOrderNote,
		Subcommands: []*cli.Command{
			{
				Name: "add",
				Usage: "add releases exported by `fuse --register FILE.json` (creates the registry); adding an active " +
					"release again changes nothing, or records a replaced key or policy; a revoked one is refused",
				ArgsUsage: "EXPORT.json...",
				Flags:     append(append([]cli.Flag{jsonFlag()}, o.flags()...), a.flags(false)...),
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 1, -1); err != nil {
						return err
					}
					now, err := buildNow(c)
					if err != nil {
						return err
					}
					ev, err := a.event(c, now, false)
					if err != nil {
						return err
					}
					regs := []*attest.Registration{}
					for _, p := range c.Args().Slice() {
						reg, err := readRegistration(p)
						if err != nil {
							return err
						}
						regs = append(regs, reg)
					}
					r, err := o.open(c, true)
					if err != nil {
						return err
					}
					defer r.Close()
					added := []listedRelease{}
					for _, reg := range regs {
						rel, changed, err := r.Add(*reg, ev)
						if err != nil {
							return err
						}
						if wantJSON(c) {
							added = append(added, listed(rel))
							continue
						}
						verb := "unchanged"
						if changed {
							verb = rel.Events[len(rel.Events)-1].Action
						}
						app, ver := releaseApp(rel)
						fmt.Fprintf(c.App.Writer, "%s %s %s %s\n", verb, rel.ID, app, ver)
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
				Usage: "list registered releases (--json: with each one's audit trail)",
				Flags: append([]cli.Flag{jsonFlag()}, o.flags()...),
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 0, 0); err != nil {
						return err
					}
					r, err := o.open(c, false)
					if err != nil {
						return err
					}
					defer r.Close()
					rels, err := r.List()
					if err != nil {
						return err
					}
					if wantJSON(c) {
						out := []listedRelease{}
						for i := range rels {
							out = append(out, listed(&rels[i]))
						}
						return writeJSON(c.App.Writer, out)
					}
					return printReleases(c.App.Writer, rels)
				},
			},
			changeCommand(o, a, "revoke", "revoke a release (by id, or by its `fuse --register` export): its attestations are "+
				"refused from now on, and adding it again is refused until `releases reinstate`",
				func(r attest.Registry, id string, ev attest.Event) (string, error) {
					rel, changed, err := r.Revoke(id, ev)
					if err != nil {
						return "", err
					}
					if !changed {
						return "already revoked " + id + " at " + rel.Revoked.Format(time.RFC3339), nil
					}
					return "revoked " + id, nil
				}),
			changeCommand(o, a, "reinstate", "re-activate a revoked release (by id, or by its `fuse --register` export)",
				func(r attest.Registry, id string, ev attest.Event) (string, error) {
					if _, err := r.Reinstate(id, ev); err != nil {
						return "", err
					}
					return "reinstated " + id, nil
				}),
		},
	}
}

// changeCommand is a `releases` subcommand changing one release's status
// (revoke, reinstate), with a required --reason; change returns the line
// printed.
func changeCommand(o *registryOptions, a *auditOptions, name, usage string,
	change func(r attest.Registry, id string, ev attest.Event) (string, error)) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "RELEASE-ID|EXPORT.json",
		Flags:     append(o.flags(), a.flags(true)...),
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1); err != nil {
				return err
			}
			now, err := buildNow(c)
			if err != nil {
				return err
			}
			ev, err := a.event(c, now, true)
			if err != nil {
				return err
			}
			id, err := releaseArg(c.Args().First())
			if err != nil {
				return err
			}
			r, err := o.open(c, false)
			if err != nil {
				return err
			}
			defer r.Close()
			line, err := change(r, id, ev)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, line)
			return nil
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
