package fusion

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
)

// threatTitles names each threat's protection in the summary and report.
var threatTitles = map[fusionset.ThreatID]string{
	fusionset.ThreatTamper:   "Anti-tamper: signer and dex digests",
	fusionset.ThreatDebugger: "Debugger detection (JDWP, TracerPid)",
	fusionset.ThreatRoot:     "Root detection (su, Magisk, test-keys)",
	fusionset.ThreatEmulator: "Emulator detection (build properties)",
	fusionset.ThreatHooking:  "Hooking-framework detection (Frida, Xposed)",
	fusionset.ThreatMITM:     "Man-in-the-middle protection (server CA pin)",
}

// policyFrom maps the Fusion Set onto the runtime's policy; the caller adds
// the digests, which depend on the build.
func policyFrom(fs *fusionset.FusionSet, pkg string, now time.Time) *androidrt.Policy {
	p := &androidrt.Policy{
		FusionSetID:     fs.FusionSetID,
		Package:         pkg,
		Threats:         map[androidrt.Threat]androidrt.ThreatPolicy{},
		EventsEnabled:   fs.ThreatEvents.Enabled,
		FailSafeEnforce: fs.ThreatEvents.FailSafeEnforce,
		FailSafeAfter:   fs.ThreatEvents.Delay(),
		ExitOnDefend:    fs.ThreatEvents.ExitOnDefend,
		MTLSHosts:       fs.MTLS.Hosts,
		AttestEndpoint:  fs.Attestation.Endpoint,
		TokenHeader:     fs.Attestation.TokenHeader,
		TokenTTL:        fs.Attestation.TTL(),
		KeyAttestation:  string(fs.Attestation.KeyAttestation.Mode),
		BuildDate:       now.UTC().Format(time.RFC3339),
		Identity:        string(fs.MTLS.Identity),
	}
	if fs.MTLS.Identity.Attested() {
		p.StrongBox = fs.MTLS.AttestedCertificate.StrongBox
	}
	for _, id := range fusionset.ThreatIDs() {
		t := fs.Threats[id]
		p.Threats[androidrt.Threat(id)] = androidrt.ThreatPolicy{Mode: string(t.Mode), Message: t.Message, Score: t.Score}
	}
	for _, ca := range fs.PinnedCAs {
		p.PinnedCASPKI = append(p.PinnedCASPKI, androidrt.SPKIDigest(ca))
		p.PinnedCAs = append(p.PinnedCAs, ca.Raw)
	}
	return p
}

// threatProtections records each threat's mode as a protection.
func threatProtections(fs *fusionset.FusionSet, p *androidrt.Policy) []Protection {
	var out []Protection
	for _, id := range fusionset.ThreatIDs() {
		t := fs.Threats[id]
		pr := Protection{ID: string(id), Title: threatTitles[id], Mode: string(t.Mode), Status: "applied",
			Evidence: map[string]string{"policy": androidrt.PolicyAsset, "reaction": reaction(t.Mode, fs.ThreatEvents)}}
		switch id {
		case fusionset.ThreatTamper:
			pr.Evidence["signers"] = strings.Join(p.SignerDigests, ",")
			pr.Evidence["dex"] = strings.Join(slices.Sorted(maps.Keys(p.DexDigests)), ",")
		case fusionset.ThreatMITM:
			pr.Evidence["pinnedCAs"] = strings.Join(p.PinnedCASPKI, ",")
			if len(p.PinnedCASPKI) == 0 && t.Mode != fusionset.ModeOff {
				pr.Status = "skipped"
				pr.Evidence["reason"] = "no pinServerCA in the Fusion Set"
			}
		}
		if t.Mode == fusionset.ModeOff {
			pr.Status = "skipped"
			pr.Evidence["reason"] = "mode off"
		}
		out = append(out, pr)
	}
	return out
}

// reaction says in words what the runtime does when the threat fires.
func reaction(m fusionset.Mode, ev fusionset.ThreatEvents) string {
	switch m {
	case fusionset.ModeDetect:
		s := "Threat-Event to the app"
		if ev.FailSafeEnforce {
			s += "; enforced after " + ev.Delay().String() + " if not acknowledged"
		}
		return s
	case fusionset.ModeDefend:
		s := "client certificate withheld, protected hosts refused"
		if ev.Enabled {
			s += "; Threat-Event to the app"
		}
		if ev.ExitOnDefend {
			s += "; app exits"
		}
		return s
	}
	return "not checked"
}
