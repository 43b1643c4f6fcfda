package ipa

import (
	"errors"
	"slices"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

func TestOpenDemo(t *testing.T) {
	f, err := Open(testenv.IOSFixture(t, "Demo.ipa"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	for _, b := range f.Bundles {
		got = append(got, b.Kind.String()+" "+b.ID+" "+b.Dir+" "+b.Executable+" "+slices.Concat(b.Arches)[0])
	}
	for _, g := range got {
		t.Log(g)
	}
	if f.App != f.Bundles[len(f.Bundles)-1] || f.App.ID != "com.example.demo" {
		t.Fatalf("app %+v", f.App)
	}
	_ = errors.New
}
