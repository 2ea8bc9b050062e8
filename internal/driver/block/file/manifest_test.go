package file

import (
	"encoding/json"
	"strings"
	"testing"
)

const validManifest = `{"format":"gostack-backup","version":1,"backup_id":"b2","parent_id":"b1",
"size":10000,"chunk_size":4096,"stored_bytes":10,"object_count":1,"chunks":[
{"index":0,"sha256":"` + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" + `","backup":"b1","compression":"zlib","stored_size":5},
{"index":2,"sha256":"` + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" + `","backup":"b2","compression":"none","stored_size":1808}]}`

func TestParseManifest(t *testing.T) {
	m, err := parseManifest([]byte(validManifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.chunkLen(2) != 10000-2*4096 || chunkCount(m.Size, m.ChunkSize) != 3 {
		t.Errorf("chunk arithmetic: len(2)=%d count=%d", m.chunkLen(2), chunkCount(m.Size, m.ChunkSize))
	}
	for name, edit := range map[string][2]string{
		"format":             {`"gostack-backup"`, `"other"`},
		"version":            {`"version":1`, `"version":2`},
		"backup id":          {`"backup_id":"b2"`, `"backup_id":"../b2"`},
		"parent id":          {`"parent_id":"b1"`, `"parent_id":"b1/.."`},
		"own parent":         {`"parent_id":"b1"`, `"parent_id":"b2"`},
		"no parent but refs": {`"parent_id":"b1",`, ``},
		"size":               {`"size":10000`, `"size":-1`},
		"size huge":          {`"size":10000`, `"size":9223372036854775807`},
		"chunk size":         {`"chunk_size":4096`, `"chunk_size":0`},
		"index range":        {`"index":2`, `"index":3`},
		"index order":        {`"index":2`, `"index":0`},
		"index negative":     {`"index":0`, `"index":-1`},
		"hash":               {`"sha256":"e3b0`, `"sha256":"E3b0`},
		"owner":              {`"backup":"b1"`, `"backup":"/etc"`},
		"compression":        {`"compression":"zlib"`, `"compression":"zstd"`},
		"stored size":        {`"stored_size":5`, `"stored_size":999999999`},
		"counts":             {`"object_count":1`, `"object_count":-1`},
		"trailing data":      {`"stored_size":1808}]}`, `"stored_size":1808}]}{}`},
		"not json":           {`{"format"`, `["format"`},
	} {
		bad := strings.Replace(validManifest, edit[0], edit[1], 1)
		if bad == validManifest {
			t.Fatalf("%s: edit did not apply", name)
		}
		if _, err := parseManifest([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseManifest checks that no input makes the parser panic, and that whatever it
// accepts is safe for Restore: chunks in range and in order, owners that are plain ids,
// and a manifest that encodes back to one the parser accepts the same way.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte(`{"format":"gostack-backup","version":1,"backup_id":"x","size":0,"chunk_size":4194304,"chunks":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err != nil {
			return
		}
		n := chunkCount(m.Size, m.ChunkSize)
		prev := int64(-1)
		for _, c := range m.Chunks {
			if c.Index <= prev || c.Index >= n || m.chunkLen(c.Index) <= 0 || m.chunkLen(c.Index) > m.ChunkSize {
				t.Fatalf("accepted chunk %+v of a manifest of %d chunks", c, n)
			}
			if !idPattern.MatchString(c.Backup) || strings.ContainsAny(c.Backup, "/.") {
				t.Fatalf("accepted owner %q", c.Backup)
			}
			prev = c.Index
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := parseManifest(out)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		if len(m2.Chunks) != len(m.Chunks) || m2.Size != m.Size {
			t.Fatal("re-encoded manifest differs")
		}
	})
}
