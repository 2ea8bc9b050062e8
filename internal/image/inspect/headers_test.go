package inspect

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestHeaders inspects the committed headers of images made by qemu-img
// (testdata/headers/generate.sh) and compares the results with testdata/headers.golden, so
// that detection is covered where qemu-img is not installed. Run with -update to rewrite the
// golden file.
func TestHeaders(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "headers", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, path := range files {
		if strings.HasSuffix(path, ".sh") {
			continue
		}
		info, err := inspect(t, readFile(t, path))
		got.WriteString(filepath.Base(path) + ": " + toResult(info, err).String() + "\n")
	}
	golden := filepath.Join("testdata", "headers.golden")
	if *update {
		writeFile(t, golden, []byte(got.String()))
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got.String() != string(want) {
		t.Errorf("results differ from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got.String(), want)
	}
}
