package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolveBuild(t *testing.T) {
	vcs := func(rev, tm, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: tm}, {Key: "vcs.modified", Value: modified},
		}}
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  buildInfo
	}{
		{"no build info", "dev", "none", "unknown", nil,
			buildInfo{Version: "dev", Commit: "none", Date: "unknown"}},
		{"test binary", "dev", "none", "unknown", &debug.BuildInfo{},
			buildInfo{Version: "dev", Commit: "none", Date: "unknown"}},
		{"checkout", "dev", "none", "unknown", vcs("abc123", "2025-01-02T03:04:05Z", "false"),
			buildInfo{Version: "dev", Commit: "abc123", Date: "2025-01-02T03:04:05Z"}},
		{"dirty checkout", "dev", "none", "unknown", vcs("abc123", "2025-01-02T03:04:05Z", "true"),
			buildInfo{Version: "dev", Commit: "abc123-dirty", Date: "2025-01-02T03:04:05Z"}},
		{"ldflags win over VCS", "1.2.3", "fff", "2026-01-01", vcs("abc123", "2025-01-02T03:04:05Z", "true"),
			buildInfo{Version: "1.2.3", Commit: "fff", Date: "2026-01-01"}},
		{"go install module@version", "dev", "none", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			buildInfo{Version: "v0.4.0", Commit: "none", Date: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Go, tt.want.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
			if got := resolveBuild(tt.version, tt.commit, tt.date, tt.bi); got != tt.want {
				t.Errorf("resolveBuild() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVersionLdflags builds the real binary the way a release does and checks
// that -X main.version/commit/date reach `trustfuse version --json`: a renamed
// variable would make -X a silent no-op.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "trustfuse")
	build := exec.Command(goTool, "build", "-buildvcs=false", "-o", bin,
		"-ldflags", "-X main.version=1.2.3 -X main.commit=0123abc -X main.date=2025-01-02T03:04:05Z", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("trustfuse version --json: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]string{
		"version": "1.2.3", "commit": "0123abc", "date": "2025-01-02T03:04:05Z",
		"go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
