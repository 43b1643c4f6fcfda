package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/codesign"
	"github.com/trustfuse/trustfuse/pkg/ipa"
	"github.com/trustfuse/trustfuse/pkg/provision"
)

// What inspect, sign and verify do with an iOS app archive (.ipa). The
// commands sniff their input (inputFormat) and come here for an IPA.

// appleOptions is the flag group of iOS signing: provisioning profiles,
// entitlements, ad-hoc signing and the Apple root the chains end at.
type appleOptions struct {
	profiles     cli.StringSlice
	entitlements string
	adhoc        bool
	roots        cli.StringSlice
}

func (o *appleOptions) signFlags() []cli.Flag {
	return []cli.Flag{
		o.profileFlag(), o.entitlementsFlag(),
		&cli.BoolFlag{Name: "adhoc", Usage: "iOS: ad-hoc signature (no certificate, no profile): for simulators and tests; no device installs it", Destination: &o.adhoc},
		o.rootFlag(),
	}
}

// fuseFlags are the iOS signing flags of fuse: a fused app is signed by
// a team (its vault is sealed to the team id), so never ad hoc.
func (o *appleOptions) fuseFlags() []cli.Flag {
	return []cli.Flag{o.profileFlag(), o.entitlementsFlag(), o.rootFlag()}
}

func (o *appleOptions) profileFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "profile", Usage: "iOS: provisioning profile `[BUNDLE_ID=]FILE.mobileprovision`; without BUNDLE_ID it is the main app's; repeat for app extensions, watch apps and other nested bundles (a bundle given none keeps its embedded profile if that one allows the new certificate)", Destination: &o.profiles}
}

func (o *appleOptions) entitlementsFlag() cli.Flag {
	return &cli.StringFlag{Name: "entitlements", Usage: "iOS: entitlements `FILE.plist` for the main app (default: the profile's entitlements); the profile must allow every one", Destination: &o.entitlements}
}

func (o *appleOptions) rootFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "apple-root", Usage: "iOS: PEM `FILE` with the root certificate(s) that code-signature and profile chains must end at instead of Apple Root CA (built in): a private test PKI", Destination: &o.roots}
}

// given reports whether any iOS-only signing flag is set.
func (o *appleOptions) given() bool {
	return len(o.profiles.Value()) > 0 || o.entitlements != "" || o.adhoc || len(o.roots.Value()) > 0
}

// check validates the iOS flags against the signing flags before anything
// is read.
func (o *appleOptions) check(c *cli.Context, s *signingOptions) error {
	if apksig.V1Mode(s.v1) != apksig.V1Auto || s.minSDK != 0 || s.lineage != "" || s.v4 {
		return usageErrorf(c, "--v1, --min-sdk, --lineage and --v4 apply to APKs: an IPA gets an Apple code signature")
	}
	if o.adhoc && (s.keystore != "" || len(o.profiles.Value()) > 0) {
		return usageErrorf(c, "--adhoc signs without a certificate or profile: drop --keystore and --profile")
	}
	if !o.adhoc && s.keystore == "" {
		return usageErrorf(c, "an IPA needs --keystore (a .p12 with the Apple signing certificate and key) and --profile, or --adhoc: there is no demo identity for iOS")
	}
	return nil
}

// loadProfiles reads the --profile values: bundle id ("" for the main app)
// to profile bytes.
func (o *appleOptions) loadProfiles(c *cli.Context) (map[string][]byte, error) {
	paths := map[string]string{}
	for _, v := range o.profiles.Value() {
		id, path, ok := strings.Cut(v, "=")
		if !ok {
			id, path = "", v
		}
		if _, dup := paths[id]; dup {
			if id == "" {
				return nil, usageErrorf(c, "--profile: more than one profile for the main app (give nested bundles' profiles as BUNDLE_ID=FILE)")
			}
			return nil, usageErrorf(c, "--profile: more than one profile for %s", id)
		}
		paths[id] = path
	}
	out := map[string][]byte{}
	for _, id := range slices.Sorted(maps.Keys(paths)) {
		path := paths[id]
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf(c, "--profile: %w", err)
		}
		out[id] = b
	}
	return out, nil
}

// rootPool reads --apple-root; without it, Apple's root (codesign.AppleRoots),
// which every Apple-issued signing certificate and profile chains to.
func (o *appleOptions) rootPool(c *cli.Context) (*x509.CertPool, error) {
	if len(o.roots.Value()) == 0 {
		return codesign.AppleRoots(), nil
	}
	pool := x509.NewCertPool()
	for _, path := range o.roots.Value() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf(c, "--apple-root: %w", err)
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, usageErrorf(c, "--apple-root %s: %w", path, err)
			}
			pool.AddCert(cert)
			n++
		}
		if n == 0 {
			return nil, usageErrorf(c, "--apple-root %s: no PEM CERTIFICATE in the file", path)
		}
	}
	return pool, nil
}

// iosOptions reads the iOS signing flags of fuse (fusion.IOSOptions).
// Profiles are checked at the current time, whatever SOURCE_DATE_EPOCH
// says: that is when a device would install the app.
func (o *appleOptions) iosOptions(c *cli.Context, s *signingOptions) (fusion.IOSOptions, error) {
	var io fusion.IOSOptions
	if err := o.check(c, s); err != nil {
		return io, err
	}
	var err error
	if io.Profiles, err = o.loadProfiles(c); err != nil {
		return io, err
	}
	if io.Roots, err = o.rootPool(c); err != nil {
		return io, err
	}
	if o.entitlements != "" {
		if io.Entitlements, err = os.ReadFile(o.entitlements); err != nil {
			return io, usageErrorf(c, "--entitlements: %w", err)
		}
	}
	return io, nil
}

// signIPA re-signs every bundle of an IPA, deepest first.
func (o *signOptions) signIPA(c *cli.Context) error {
	if err := o.apple.check(c, &o.signing); err != nil {
		return err
	}
	when, err := buildNow(c)
	if err != nil {
		return err
	}
	profiles, err := o.apple.loadProfiles(c)
	if err != nil {
		return err
	}
	roots, err := o.apple.rootPool(c)
	if err != nil {
		return err
	}
	opts := ipa.SignOptions{AdHoc: o.apple.adhoc, Profiles: profiles, Roots: roots, Time: when}
	if o.apple.entitlements != "" {
		if opts.Entitlements, err = os.ReadFile(o.apple.entitlements); err != nil {
			return usageErrorf(c, "--entitlements: %w", err)
		}
	}
	in, err := ipa.Open(o.in)
	if err != nil {
		return err
	}
	defer in.Close()
	signer := "ad hoc"
	if !o.apple.adhoc {
		s, err := o.signing.load(c)
		if err != nil {
			return err
		}
		opts.Signer, opts.Chain = s.Key, s.Chain
		signer = fmt.Sprintf("%s (sha256 %s, %s)", s.Certificate.Subject.CommonName, apksig.CertDigest(s.Certificate), s.KeyDescription())
	}
	out, err := atomicfile.Create(o.out)
	if err != nil {
		return err
	}
	defer out.Abort()
	res, err := ipa.Sign(out, in.IPA, opts)
	if err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, struct {
			In     string `json:"in"`
			Out    string `json:"out"`
			Format string `json:"format"`
			AdHoc  bool   `json:"adhoc"`
			*ipa.SignResult
		}{o.in, o.out, "ipa", o.apple.adhoc, res})
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("signed", "%s -> %s", o.in, o.out)
	row("signer", "%s", signer)
	if !o.apple.adhoc {
		row("signing time", "%s", res.SigningTime.Format(time.RFC3339))
	}
	for _, b := range res.Bundles {
		row(b.Kind.String(), "%s %s cdhash %s%s", b.Dir, orNone(b.ID), b.CDHash, profileNote(b.ProfileName))
	}
	return tw.Flush()
}

// profileNote describes the profile a bundle was signed with, if any.
func profileNote(name string) string {
	if name == "" {
		return ""
	}
	return "; profile " + name
}

// verifyIPA checks every bundle's code signature, CodeResources and
// profile, and with --report the report: signed by the app's signing
// certificate, about this file.
func (o *verifyOptions) verifyIPA(c *cli.Context, path string) error {
	if o.minSDK != 0 || o.maxSDK != 0 {
		return usageErrorf(c, "--min-sdk and --max-sdk apply to Android packages")
	}
	roots, err := o.apple.rootPool(c)
	if err != nil {
		return err
	}
	in, err := ipa.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	// Profiles are checked at the current time, whatever SOURCE_DATE_EPOCH
	// says: that is when a device would install the app.
	res, err := ipa.Verify(in.IPA, ipa.VerifyOptions{Roots: roots})
	if err != nil && (res == nil || !errors.Is(err, ipa.ErrVerify)) {
		return err
	}
	ok := err == nil
	var rc *reportCheck
	if o.report != "" {
		rc = checkReportFor(o.report, path, func() (string, error) { return fileSHA256(path) }, ipaSigners(res))
	}
	if wantJSON(c) {
		err = writeJSON(c.App.Writer, struct {
			File     string `json:"file"`
			Format   string `json:"format"`
			Verified bool   `json:"verified"`
			*ipa.VerifyResult
			Report *reportCheck `json:"report,omitempty"`
		}{path, "ipa", ok, res, rc})
	} else {
		err = printIPAVerify(c.App.Writer, ok, res, o.apple.chainNote())
		if rc != nil {
			rc.print(c.App.Writer)
		}
	}
	if err != nil {
		return err
	}
	var errs []error
	if !ok {
		errs = append(errs, fmt.Errorf("%s: %w", path, errVerifyFailed))
	}
	if rc != nil && rc.err != nil {
		errs = append(errs, rc.err)
	}
	return errors.Join(errs...)
}

// ipaSigners is the SHA-256 of the app's CMS signing certificate, the
// key a fused IPA's report is signed with (none when unsigned or ad hoc).
func ipaSigners(r *ipa.VerifyResult) []string {
	if len(r.Bundles) == 0 {
		return nil
	}
	app := r.Bundles[len(r.Bundles)-1]
	if app.Leaf == nil {
		return nil
	}
	return []string{apksig.CertDigest(app.Leaf)}
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// printIPAVerify prints the verdict, then one line per code item, deepest
// first, and its problems.
func printIPAVerify(w io.Writer, ok bool, r *ipa.VerifyResult, root string) error {
	if ok {
		fmt.Fprintln(w, "Verifies")
	} else {
		fmt.Fprintln(w, "DOES NOT VERIFY")
	}
	for _, b := range r.Bundles {
		verdict := "ok"
		if !b.OK {
			verdict = "FAILED"
		}
		var how string
		switch {
		case b.AdHoc:
			how = "ad hoc"
		case b.Leaf != nil:
			how = fmt.Sprintf("signed by %s, team %s, chain to %s", b.Leaf.Subject.CommonName, orNone(b.TeamID), root)
		}
		if how != "" {
			how = " (" + how + ")"
		}
		fmt.Fprintf(w, "%s %s %s: %s%s\n", b.Kind, b.Dir, orNone(b.ID), verdict, how)
		for _, p := range b.Problems {
			fmt.Fprintf(w, "ERROR: %s: %s\n", b.Dir, p)
		}
	}
	return nil
}

// chainNote says where a verified signature's chain ends.
func (o *appleOptions) chainNote() string {
	if len(o.roots.Value()) == 0 {
		return "Apple Root CA"
	}
	return "--apple-root"
}

// ipaInfo is inspect's summary of an IPA (docs/inspect.md).
type ipaInfo struct {
	File    string       `json:"file"`
	Format  string       `json:"format"`
	Size    int64        `json:"size"`
	SHA256  string       `json:"sha256"`
	Bundles []bundleInfo `json:"bundles"`
}

// bundleInfo is one bundle (or loose dylib) of an IPA, main app last.
type bundleInfo struct {
	Dir          string         `json:"dir"`
	Kind         string         `json:"kind"`
	ID           string         `json:"id,omitempty"`
	Name         string         `json:"name,omitempty"`
	Version      string         `json:"version,omitempty"`
	ShortVersion string         `json:"shortVersion,omitempty"`
	MinOS        string         `json:"minOS,omitempty"`
	Executable   string         `json:"executable"`
	Arches       []string       `json:"arches"`
	Encrypted    bool           `json:"encrypted"`
	Signed       bool           `json:"signed"`
	TeamID       string         `json:"teamId,omitempty"`
	Signer       *certSummary   `json:"signer,omitempty"`
	Entitlements map[string]any `json:"entitlements,omitempty"`
	Profile      *profileInfo   `json:"profile,omitempty"`

	signerName string // the signer's common name, for the human summary
}

type profileInfo struct {
	Name                  string    `json:"name"`
	UUID                  string    `json:"uuid"`
	TeamID                string    `json:"teamId"`
	ApplicationIdentifier string    `json:"applicationIdentifier"`
	Expires               time.Time `json:"expires"`
	Devices               int       `json:"devices"`
	AllDevices            bool      `json:"allDevices"`
	Certificates          []string  `json:"certificates"` // SHA-256 of each DeveloperCertificate
}

// inspectIPA prints the IPA summary.
func inspectIPA(c *cli.Context, path string) error {
	in, err := ipa.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	info := ipaInfo{File: filepath.Base(path), Format: "ipa", Size: in.Zip.Size()}
	if info.SHA256, err = in.Zip.FileSHA256(); err != nil {
		return err
	}
	for _, b := range in.Bundles {
		info.Bundles = append(info.Bundles, summarizeBundle(b))
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, info)
	}
	return printIPAInfo(c.App.Writer, &info)
}

func summarizeBundle(b *ipa.Bundle) bundleInfo {
	bi := bundleInfo{
		Dir: b.Dir, Kind: b.Kind.String(), ID: b.ID, Name: b.Name, Version: b.Version,
		ShortVersion: b.ShortVersion, MinOS: b.MinOS, Executable: b.Executable,
		Arches: b.Arches, Encrypted: b.Encrypted, Signed: b.Signed, TeamID: b.TeamID,
		Entitlements: b.Entitlements,
	}
	if b.Signer != nil {
		c := b.Signer
		sum := summarizeCert(c.Raw, c.Subject.String(), c.Issuer.String(), c.SerialNumber.Text(16), c.NotBefore, c.NotAfter)
		bi.Signer, bi.signerName = &sum, c.Subject.CommonName
	}
	if p := b.Profile; p != nil {
		bi.Profile = summarizeProfile(p)
	}
	return bi
}

func summarizeProfile(p *provision.Profile) *profileInfo {
	pi := &profileInfo{
		Name: p.Name, UUID: p.UUID, TeamID: p.TeamID, ApplicationIdentifier: p.ApplicationIdentifier,
		Expires: p.ExpirationDate.UTC(), Devices: len(p.ProvisionedDevices), AllDevices: p.ProvisionsAllDevices,
		Certificates: []string{},
	}
	for _, cert := range p.DeveloperCertificates {
		pi.Certificates = append(pi.Certificates, apksig.CertDigest(cert))
	}
	return pi
}

// printIPAInfo writes the human summary: the archive, then a block per
// bundle, main app last (the order they are signed in).
func printIPAInfo(w io.Writer, i *ipaInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("file", "%s (%s, iOS app archive)", i.File, humanSize(i.Size))
	row("sha256", "%s", i.SHA256)
	for _, b := range i.Bundles {
		row(b.Kind, "%s", b.Dir)
		if b.ID != "" {
			row("  id", "%s", b.ID)
		}
		if b.Version != "" || b.ShortVersion != "" {
			row("  version", "%s (%s)", orNone(b.ShortVersion), orNone(b.Version))
		}
		if b.MinOS != "" {
			row("  min iOS", "%s", b.MinOS)
		}
		encrypted := ""
		if b.Encrypted {
			encrypted = "; FairPlay-encrypted"
		}
		row("  executable", "%s (%s%s)", b.Executable, strings.Join(b.Arches, ", "), encrypted)
		switch {
		case !b.Signed:
			row("  signature", "none")
		case b.Signer == nil:
			row("  signature", "ad hoc (not verified: use trustfuse verify)")
		default:
			row("  signature", "%s, team %s (not verified: use trustfuse verify)", b.signerName, orNone(b.TeamID))
		}
		if len(b.Entitlements) > 0 {
			row("  entitlements", "%s", strings.Join(slices.Sorted(maps.Keys(b.Entitlements)), ", "))
		}
		if p := b.Profile; p != nil {
			devices := fmt.Sprintf("%d device(s)", p.Devices)
			if p.AllDevices {
				devices = "all devices (enterprise)"
			}
			row("  profile", "%s (%s), app id %s, expires %s, %s", p.Name, p.UUID, p.ApplicationIdentifier, p.Expires.Format(time.DateOnly), devices)
		}
	}
	return tw.Flush()
}
