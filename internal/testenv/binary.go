package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Trustfuse builds the trustfuse command into a temporary directory of t and
// returns its path, for tests outside cmd/trustfuse that check an input the
// way a user would run it (`trustfuse sign`, `trustfuse fuse`). It skips in
// -short mode, like the oracles.
func Trustfuse(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: builds the trustfuse binary; not run in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("testenv: go not in PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "trustfuse")
	build := exec.Command(goTool, "build", "-buildvcs=false", "-o", bin, "./cmd/trustfuse")
	build.Dir = Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go build ./cmd/trustfuse: %v\n%s", err, out)
	}
	return bin
}

// SignAndFuse re-signs in with `trustfuse sign` and fuses it with `trustfuse
// fuse` and the demo Fusion Set (both with the built-in demo key), and fails
// t unless both outputs pass `apksigner verify`. bin is from Trustfuse.
func SignAndFuse(t testing.TB, bin, in string) {
	t.Helper()
	dir := t.TempDir()
	demo := filepath.Join(Root(t), "fusion", "examples", "demo.json")
	for _, args := range [][]string{
		{"sign", "--in", in, "--out", filepath.Join(dir, "signed.apk")},
		{"fuse", "--in", in, "--fusion-set", demo, "--out", filepath.Join(dir, "fused.apk")},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cmd.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("trustfuse %s %s: %v\n%s", args[0], filepath.Base(in), err, out)
		}
		Run(t, "apksigner", "verify", args[len(args)-1])
	}
}
