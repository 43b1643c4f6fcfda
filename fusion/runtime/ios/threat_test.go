package iosrt_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// androidEvent reads, from the Android runtime's Guard.smali, the
// Threat-Event keys in the order Guard.event puts them and the event name
// of each threat code (Guard.eventName's two lists).
func androidEvent(t *testing.T) (keys []string, names map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "fusion", "runtime", "android", "smali", "io", "trustfuse", "runtime", "Guard.smali"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	body := src[strings.Index(src, ".method event("):]
	body = body[:strings.Index(body, ".end method")]
	// A key is a const-string into v2 that the next put call uses.
	lines := strings.Split(body, "\n")
	str := regexp.MustCompile(`const-string v2, "([^"]*)"`)
	put := regexp.MustCompile(`\{v0, v2, [vp]\d\}, Lio/trustfuse/runtime/Guard;->put\(`)
	for i, l := range lines {
		m := str.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, next := range lines[i+1:] {
			if str.MatchString(next) {
				break
			}
			if put.MatchString(next) {
				keys = append(keys, m[1])
				break
			}
		}
	}
	lists := regexp.MustCompile(`const-string v[01], "([A-Za-z,]+)"`).FindAllStringSubmatch(src[strings.Index(src, ".method static eventName("):], 2)
	codes, evs := strings.Split(lists[0][1], ","), strings.Split(lists[1][1], ",")
	names = map[string]string{}
	for i, c := range codes {
		names[c] = evs[i]
	}
	return keys, names
}

type verdict struct {
	Mode, Score, Total, SendEvent, EnforceNow, FailSafe, ExitOnDefend int
	FailSafeMs                                                        int64
	Event                                                             *orderedEvent
}

// orderedEvent keeps the event's keys in document order.
type orderedEvent struct {
	keys   []string
	values map[string]string
}

func (e *orderedEvent) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &e.values); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		e.keys = append(e.keys, k.(string))
		dec.Token() // the value: strings only
	}
	return nil
}

// TestThreatEvents: the core fires threats as the Android runtime's Guard
// does: the event's keys (in order) and names are those of Guard.smali;
// scores are Long.parseLong truncated to int (0 when malformed) and the
// total wraps like an AtomicInteger; modes other than exactly detect or
// defend are off; events, fail-safe and exitOnDefend follow the policy.
func TestThreatEvents(t *testing.T) {
	wantKeys, names := androidEvent(t)
	if len(wantKeys) != 20 || len(names) != 6 {
		t.Fatalf("read %d event keys and %d names from Guard.smali", len(wantKeys), len(names))
	}
	base := func(mode, score string, extra ...string) []byte {
		p := &androidrt.Policy{FusionSetID: "fs", Package: "com.example.demo", FusedAppToken: "00ff", BuildDate: "2025-01-02T03:04:05Z",
			SignerDigests: []string{strings.Repeat("00", 32)}}
		text := string(p.Encode())
		for _, code := range []string{"tamper", "debugger", "root", "emulator", "hooking", "mitm"} {
			text += "threat." + code + ".mode=" + mode + "\nthreat." + code + ".score=" + score + "\nthreat." + code + ".message=msg \\u00e9 " + code + "\n"
		}
		return []byte(text + strings.Join(extra, "\n") + "\n")
	}
	cases := []struct {
		name   string
		policy []byte
		start  int
		want   verdict
	}{
		{"detect, events", base("detect", "10", "events=true"), 5, verdict{Mode: 1, Score: 10, Total: 15, SendEvent: 1}},
		{"defend, exit", base("defend", "100", "events=true", "exitOnDefend=true"), 0, verdict{Mode: 2, Score: 100, Total: 100, SendEvent: 1, EnforceNow: 1, ExitOnDefend: 1}},
		{"defend, events off", base("defend", "7", "events=false"), 0, verdict{Mode: 2, Score: 7, Total: 7, EnforceNow: 1}},
		{"detect, fail-safe", base("detect", "1", "events=true", "failSafe.enforce=true", "failSafe.afterMs=1500"), 0,
			verdict{Mode: 1, Score: 1, Total: 1, SendEvent: 1, FailSafe: 1, FailSafeMs: 1500}},
		{"defend ignores fail-safe", base("defend", "1", "failSafe.enforce=true", "failSafe.afterMs=1500"), 0, verdict{Mode: 2, Score: 1, Total: 1, EnforceNow: 1}},
		{"off", base("off", "10", "events=true"), 3, verdict{}},
		{"mode not exact", base("DEFEND", "10", "events=true"), 3, verdict{}},
		{"malformed score", base("detect", "12abc"), 4, verdict{Mode: 1, Score: 0, Total: 4}},
		{"plus sign", base("detect", "+7"), 0, verdict{Mode: 1, Score: 7, Total: 7}},
		{"negative", base("detect", "-5"), 0, verdict{Mode: 1, Score: -5, Total: -5}},
		{"long truncated to int", base("detect", "4294967297"), 0, verdict{Mode: 1, Score: 1, Total: 1}},
		{"beyond long", base("detect", "9223372036854775808"), 0, verdict{Mode: 1, Score: 0, Total: 0}},
		{"total wraps", base("detect", "1"), 2147483647, verdict{Mode: 1, Score: 1, Total: -2147483648}},
		{"exitOnDefend only on defend", base("detect", "1", "exitOnDefend=true"), 0, verdict{Mode: 1, Score: 1, Total: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := writeFile(t, "policy.bin", c.policy)
			for threat, code := range []string{"tamper", "debugger", "root", "emulator", "hooking", "mitm"} {
				out := mustRun(t, "threat", pol, strconv.Itoa(threat), "reason-"+code, "data \"quoted\"\n", strconv.Itoa(c.start))
				var v verdict
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				ev := v.Event
				v.Event = nil
				if v != c.want {
					t.Fatalf("%s: verdict %+v, want %+v", code, v, c.want)
				}
				if (ev != nil) != (c.want.SendEvent == 1) {
					t.Fatalf("%s: event %v, want one: %v", code, ev != nil, c.want.SendEvent == 1)
				}
				if ev == nil {
					continue
				}
				if !slices.Equal(ev.keys, wantKeys) {
					t.Fatalf("%s: event keys %v, Guard.smali puts %v", code, ev.keys, wantKeys)
				}
				mode := map[int]string{1: "detect", 2: "defend"}[c.want.Mode]
				want := map[string]string{"threatCode": code, "threatEventName": names[code], "message": "msg é " + code,
					"reasonCode": "reason-" + code, "reasonData": "data \"quoted\"\n", "mode": mode,
					"failSafeEnforce": strconv.FormatBool(c.want.FailSafe == 1), "threatScore": strconv.Itoa(c.want.Score),
					"totalScore": strconv.Itoa(c.want.Total), "fusedAppToken": "00ff", "buildDate": "2025-01-02T03:04:05Z",
					"package": "com.example.demo", "deviceID": "dev-id", "externalID": "ext-1", "timeZone": "Europe/Paris"}
				for k, w := range want {
					if ev.values[k] != w {
						t.Errorf("%s: %s = %q, want %q", code, k, ev.values[k], w)
					}
				}
			}
		})
	}
	if _, code := run(t, "threat", writeFile(t, "p", base("detect", "1")), "6", "r", "d", "0"); code != 0 {
		t.Errorf("unknown threat: exit %d", code)
	}
}
