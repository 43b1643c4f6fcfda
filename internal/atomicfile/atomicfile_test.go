package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitRenamesIntoPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.apk")
	os.WriteFile(path, []byte("old"), 0o600)
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.WriteString("new")
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatal("the old file changed before Commit")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("got %q", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	assertOnly(t, dir, "out.apk")
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
}

// TestAbortLeavesNothing is what a failed write (full disk, bad input found
// half way) relies on: no output, no temporary file, the old file intact.
func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "out.apk"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial")
	f.Abort()
	f.Abort() // idempotent
	assertOnly(t, dir)
}

func TestCreateInMissingDir(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "no", "such", "out.apk")); err == nil {
		t.Fatal("Create in a missing directory succeeded")
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}

// TestGroup covers the all-or-none outputs of `fuse`: a group appears
// entirely on Commit, and every way of failing leaves none of its files and
// no temporary file, while a stale companion is removed only on success.
func TestGroup(t *testing.T) {
	cases := []struct {
		name string
		// fail breaks the group after its files are written; nil commits.
		fail      func(t *testing.T, g *Group, dir string)
		wantFiles []string
	}{
		{"commit", nil, []string{"a.apk", "a.report.json"}},
		{"abort (a later step failed)", func(t *testing.T, g *Group, dir string) { g.Abort() }, []string{"a.apk.idsig"}},
		{"flush fails (file closed under us)", func(t *testing.T, g *Group, dir string) {
			g.files[1].File.Close()
		}, []string{"a.apk.idsig"}},
		{"rename fails after the first (target became a directory)", func(t *testing.T, g *Group, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "a.report.json"), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "a.report.json", "x"), nil, 0o644)
		}, []string{"a.apk.idsig", "a.report.json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			stale := filepath.Join(dir, "a.apk.idsig")
			os.WriteFile(stale, []byte("stale"), 0o644)
			var g Group
			defer g.Abort()
			for _, name := range []string{"a.apk", "a.report.json"} {
				f, err := g.Create(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(name)
			}
			g.RemoveOnCommit(stale)
			if c.fail == nil {
				if err := g.Commit(); err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(filepath.Join(dir, "a.apk")); string(b) != "a.apk" {
					t.Errorf("a.apk holds %q", b)
				}
			} else {
				c.fail(t, &g, dir)
				if len(g.files) > 0 {
					if err := g.Commit(); err == nil {
						t.Fatal("Commit succeeded after a failure")
					} else {
						t.Log(err)
					}
				}
			}
			g.Abort()
			assertOnly(t, dir, c.wantFiles...)
		})
	}
}
