package fusionset

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/internal/jsonpos"
)

// Ranges of the durations a Fusion Set sets.
const (
	minTokenTTL      = 30 * time.Second // below: clock skew between device and server eats the token
	maxTokenTTL      = time.Hour        // above: a stolen token is useful for too long
	minFailSafeAfter = time.Second
	maxFailSafeAfter = time.Hour
)

// check runs the checks the schema cannot express, on what the schema let
// through (a value with a schema problem is not checked again), loads the
// client identity and pinned CAs, and fills in defaults.
func check(ps *problems, fs *FusionSet, doc any, dir string, opts LoadOptions) {
	checkHosts(ps, fs.MTLS.Hosts)
	if has(doc, "attestation") && !ps.blocked("/attestation") {
		checkAttestation(ps, &fs.Attestation)
	}
	checkThreats(ps, fs, doc)
	checkIdentityMode(ps, fs, doc)
	now := opts.now()
	loadPins(ps, fs, dir, now)
	loadIdentity(ps, fs, dir, opts, now)
	loadIssuerCA(ps, fs, dir, now)
	fillDefaults(fs, doc)
}

// has reports whether doc has a member at the path of keys.
func has(doc any, path ...string) bool {
	v := doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

func checkHosts(ps *problems, hosts []string) {
	seen := map[string]int{}
	for i, h := range hosts {
		ptr := jsonpos.Pointer("mtls", "hosts", strconv.Itoa(i))
		if ps.blocked(ptr) {
			continue
		}
		if msg := hostProblem(h); msg != "" {
			ps.add(ptr, "%q %s", h, msg)
			continue
		}
		key := strings.ToLower(strings.TrimSuffix(h, "."))
		if j, dup := seen[key]; dup {
			ps.add(ptr, "%q repeats hosts[%d] (host names are case-insensitive)", h, j)
			continue
		}
		seen[key] = i
	}
}

// hostProblem says what is wrong with a host the schema's pattern accepted:
// an address that does not parse, or a name that looks like one.
func hostProblem(h string) string {
	if strings.Contains(h, ":") {
		if net.ParseIP(h) == nil {
			return "is not a valid IPv6 address (write it without brackets or port)"
		}
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		// A numeric last label: only an IPv4 address can end like that.
		if net.ParseIP(h) == nil || len(labels) != 4 {
			return "is not a valid IPv4 address, and a DNS name cannot end in a number"
		}
	}
	return ""
}

func checkAttestation(ps *problems, a *Attestation) {
	if ptr := jsonpos.Pointer("attestation", "endpoint"); !ps.blocked(ptr) {
		if msg := endpointProblem(a.Endpoint); msg != "" {
			ps.add(ptr, "%q %s", a.Endpoint, msg)
		}
	}
	if ptr := jsonpos.Pointer("attestation", "tokenHeader"); a.TokenHeader != "" && !ps.blocked(ptr) {
		if reservedHeader(a.TokenHeader) {
			ps.add(ptr, "%q is a header HTTP stacks or apps set themselves; choose another name (default %s)", a.TokenHeader, DefaultTokenHeader)
		}
	}
	if ptr := jsonpos.Pointer("attestation", "tokenTTL"); a.TokenTTL != "" && !ps.blocked(ptr) {
		checkDuration(ps, ptr, a.TokenTTL, minTokenTTL, maxTokenTTL)
	}
	seen := map[string]int{}
	for i, d := range a.PlaySigningCertDigests {
		ptr := jsonpos.Pointer("attestation", "playSigningCertDigests", strconv.Itoa(i))
		if ps.blocked(ptr) {
			continue
		}
		norm := strings.ToLower(strings.ReplaceAll(d, ":", ""))
		if _, err := hex.DecodeString(norm); err != nil || len(norm) != 64 {
			ps.add(ptr, "%q is not a SHA-256 digest", d)
			continue
		}
		if j, dup := seen[norm]; dup {
			ps.add(ptr, "repeats playSigningCertDigests[%d]", j)
			continue
		}
		seen[norm] = i
		a.PlaySigningCertDigests[i] = norm
	}
}

// endpointProblem checks an attestation base URL: https, or http on the
// loopback interface only — for local tests against `trustfuse serve`
// without TLS; anywhere else the exchange would travel in clear text and a
// network attacker could answer it.
func endpointProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a URL: " + strings.TrimPrefix(err.Error(), "parse "+strconv.Quote(s)+": ")
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.User != nil:
		return "must not contain a user name or password"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not have a query or fragment: it is the base URL the app adds /v1/challenge and /v1/attest to"
	case strings.EqualFold(u.Scheme, "https"):
		return hostProblemOrEmpty(u.Hostname())
	case strings.EqualFold(u.Scheme, "http") && isLoopback(u.Hostname()):
		return ""
	}
	return "must use https (http is accepted only for localhost, 127.0.0.1 and ::1, for local tests)"
}

func hostProblemOrEmpty(h string) string {
	if msg := hostProblem(h); msg != "" {
		return "has a bad host: " + msg
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

// reservedHeader reports header names the token must not take over.
func reservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization", "cookie", "host", "content-length", "content-type",
		"transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "user-agent":
		return true
	}
	return false
}

// checkDuration checks a duration the schema's pattern accepted.
func checkDuration(ps *problems, ptr, s string, lo, hi time.Duration) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		ps.add(ptr, "%q is not a duration (too large?)", s)
	case d < lo || d > hi:
		ps.add(ptr, "%s is out of range: must be between %s and %s", s, shortDuration(lo), shortDuration(hi))
	}
}

// shortDuration prints 30s, 5m, 1h rather than 30s, 5m0s, 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// checkThreats checks the modes against threatEvents and mtls.
func checkThreats(ps *problems, fs *FusionSet, doc any) {
	events := !has(doc, "threatEvents", "enabled") || fs.ThreatEvents.Enabled
	eventsPtr := jsonpos.Pointer("threatEvents", "enabled")
	for _, id := range ThreatIDs() {
		t, ok := fs.Threats[id]
		ptr := jsonpos.Pointer("threats", string(id), "mode")
		if !ok || ps.blocked(jsonpos.Pointer("threats", string(id))) {
			continue
		}
		if t.Mode == ModeDetect && !events && !ps.blocked(eventsPtr) {
			ps.add(ptr, "detect only tells the app, with Threat-Events, which threatEvents.enabled turns off: use defend or off, or enable events")
		}
		if id == ThreatMITM && t.Mode == ModeDefend && fs.MTLS.PinServerCA == "" && !ps.blocked("/mtls/pinServerCA") {
			ps.add(ptr, "defend needs mtls.pinServerCA: without a pinned CA an interception cannot be told from the real server")
		}
		if t.Message != "" && t.Mode != ModeDefend {
			ps.warn(jsonpos.Pointer("threats", string(id), "message"), "message is shown only in defend mode; this threat is %s", t.Mode)
		}
	}
	if ptr := jsonpos.Pointer("threatEvents", "failSafeEnforce"); fs.ThreatEvents.FailSafeEnforce && !events && !ps.blocked(ptr) && !ps.blocked(eventsPtr) {
		ps.add(ptr, "failSafeEnforce acts on Threat-Events the app did not handle, which threatEvents.enabled turns off")
	}
	if ptr := jsonpos.Pointer("threatEvents", "failSafeAfter"); fs.ThreatEvents.FailSafeAfter != "" && !ps.blocked(ptr) {
		checkDuration(ps, ptr, fs.ThreatEvents.FailSafeAfter, minFailSafeAfter, maxFailSafeAfter)
		if !fs.ThreatEvents.FailSafeEnforce {
			ps.warn(ptr, "failSafeAfter has no effect without failSafeEnforce")
		}
	}
}

// fillDefaults sets the optional fields the document left out.
func fillDefaults(fs *FusionSet, doc any) {
	if fs.Threats == nil {
		fs.Threats = map[ThreatID]Threat{}
	}
	for _, id := range ThreatIDs() {
		t, ok := fs.Threats[id]
		if !ok {
			t.Mode = ModeOff
		}
		if t.Message == "" {
			t.Message = DefaultMessage(id)
		}
		if !has(doc, "threats", string(id), "score") {
			t.Score = DefaultScore(id)
		}
		fs.Threats[id] = t
	}
	if !has(doc, "threatEvents", "enabled") {
		fs.ThreatEvents.Enabled = true
	}
	if fs.ThreatEvents.FailSafeAfter == "" {
		fs.ThreatEvents.FailSafeAfter = DefaultFailSafeAfter.String()
	}
	if fs.MTLS.Identity == "" {
		fs.MTLS.Identity = IdentityEmbedded
	}
	ac := &fs.MTLS.AttestedCertificate
	if ac.Validity == "" {
		ac.Validity = shortDuration(DefaultAttestedValidity)
	}
	if ac.MinSecurityLevel == "" {
		ac.MinSecurityLevel = "tee"
	}
	if ac.StrongBox == "" {
		ac.StrongBox = "off"
	}
	if ac.RequireVerifiedBoot == nil {
		yes := true
		ac.RequireVerifiedBoot = &yes
	}
	if a := &fs.Attestation; has(doc, "attestation") {
		if a.TokenHeader == "" {
			a.TokenHeader = DefaultTokenHeader
		}
		if a.TokenTTL == "" {
			a.TokenTTL = shortDuration(DefaultTokenTTL)
		}
		k := &a.KeyAttestation
		if k.Mode == "" {
			k.Mode = KeyAttestationOff
		}
		if k.MinSecurityLevel == "" {
			k.MinSecurityLevel = "tee"
		}
		if k.RequireVerifiedBoot == nil {
			yes := true
			k.RequireVerifiedBoot = &yes
		}
		if a.AppAttest.Mode == "" {
			a.AppAttest.Mode = KeyAttestationOff
		}
	}
}

// resolveRef returns the path of a file:PATH reference, relative to dir.
func resolveRef(dir, ref string) string {
	p := strings.TrimPrefix(ref, "file:")
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// secretRef rewrites a file: secret reference to be relative to dir.
func secretRef(dir string, ref SecretRef) string {
	s := string(ref)
	if strings.HasPrefix(s, "file:") {
		return "file:" + resolveRef(dir, s)
	}
	return s
}

// describeTime formats a certificate validity bound.
func describeTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// days formats a duration in whole days.
func days(d time.Duration) string {
	n := int(d.Hours() / 24)
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
