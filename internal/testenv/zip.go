package testenv

import (
	"archive/zip"
	"io"
	"os"
	"testing"
)

// ZipFile is an entry for RewriteZip to append.
type ZipFile struct {
	Name string
	Data []byte
}

// ZipEntries reads every entry of the ZIP file at path with the standard
// library's archive/zip (not our reader).
func ZipEntries(t testing.TB, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	m := make(map[string][]byte, len(zr.File))
	for _, f := range zr.File {
		m[f.Name] = readZipFile(t, f)
	}
	return m
}

// ZipEntry reads the entry name of the ZIP file at path with archive/zip;
// a missing entry fails the test.
func ZipEntry(t testing.TB, path, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			return readZipFile(t, f)
		}
	}
	t.Fatalf("%s: no entry %s", path, name)
	return nil
}

func readZipFile(t testing.TB, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return b
}

// RewriteZip copies the ZIP file src to dst with archive/zip: entries named
// in replace (each must exist) get that content (deflated) in their place,
// the others are copied raw, then add is appended (deflated) in order. Nothing is signed
// or aligned: the result is what someone editing a package by hand makes.
func RewriteZip(t testing.TB, src, dst string, replace map[string][]byte, add ...ZipFile) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	write := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	replaced := 0
	for _, e := range zr.File {
		if data, ok := replace[e.Name]; ok {
			write(e.Name, data)
			replaced++
		} else if err := zw.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	if replaced != len(replace) {
		t.Fatalf("%s: %d of the %d entries to replace are not in it", src, len(replace)-replaced, len(replace))
	}
	for _, e := range add {
		write(e.Name, e.Data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
