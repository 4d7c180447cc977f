package canonjson

import (
	"encoding/json"
	"testing"
)

func TestMarshalSortsKeys(t *testing.T) {
	type S struct {
		B string `json:"b"`
		A int    `json:"a"`
		M map[string]any
	}
	got, err := Marshal(S{B: "<x>", A: 1, M: map[string]any{"z": 1, "y": []int{2}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"M":{"y":[2],"z":1},"a":1,"b":"<x>"}`
	if string(got) != want {
		t.Fatalf("Marshal = %s, want %s", got, want)
	}
}

func TestDigestStable(t *testing.T) {
	_, d1, _ := Digest(map[string]any{"a": 1.5, "b": "x"})
	_, d2, _ := Digest(json.RawMessage(`{ "b" : "x", "a":1.5 }`))
	if d1 != d2 {
		t.Fatalf("digests differ: %s %s", d1, d2)
	}
}

func FuzzMarshalIdempotent(f *testing.F) {
	f.Add(`{"a":[1,2,{"c":null}],"b":"\u00e9\u2028"}`)
	f.Add(`[1e400]`)
	f.Add(`"x"`)
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		b1, err := Marshal(json.RawMessage(s))
		if err != nil {
			return
		}
		b2, err := Marshal(json.RawMessage(b1))
		if err != nil {
			t.Fatalf("re-encode failed: %v", err)
		}
		if string(b1) != string(b2) {
			t.Fatalf("not idempotent: %s vs %s", b1, b2)
		}
	})
}
