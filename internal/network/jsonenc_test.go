package network

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzAppendJSON checks that appendJSON produces valid JSON that decodes to what
// encoding/json's own output decodes to.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{"plain", "quo\"te\\", "ctl\x01\n\t", "\u2028", "bad\xffutf8", "<&>", "日本"} {
		f.Add(s, int64(42), true)
	}
	f.Fuzz(func(t *testing.T, s string, n int64, flag bool) {
		v := map[string]any{"s": s, s: []any{n, flag, nil, []string{s}, map[string]string{s: s}},
			"rec": record{"k": s, "tags": []string{}}, "list": []map[string]any{{"a": s}}, "f": 1.5}
		mine, err := appendJSON(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := json.Marshal(v)
		var a, b any
		if err := json.Unmarshal(mine, &a); err != nil {
			t.Fatalf("invalid JSON %q: %v", mine, err)
		}
		_ = json.Unmarshal(ref, &b)
		if !cmp.Equal(a, b) {
			t.Fatalf("differs:\n%s\n%s", mine, ref)
		}
	})
}
