package config

import (
	"reflect"
	"strings"
)

// Differences names what other changes against c, section by section, with
// the entries of a list that carry an id (gates, auto_approve,
// commands.rules, ...) named one by one: "gates.ci-config: removed",
// "sandbox: changed". `agentos policy explain` lists them for an
// uncommitted agentos.yaml, which governs nothing.
func Differences(c, other *Config) []string {
	var out []string
	diffStruct(&out, "", reflect.ValueOf(*c), reflect.ValueOf(*other))
	return out
}

func diffStruct(out *[]string, prefix string, a, b reflect.Value) {
	t := a.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		x, y := a.Field(i), b.Field(i)
		if reflect.DeepEqual(x.Interface(), y.Interface()) {
			continue
		}
		switch {
		case x.Kind() == reflect.Struct && prefix == "":
			before := len(*out)
			diffStruct(out, name+".", x, y)
			if len(*out) == before {
				*out = append(*out, name+": changed")
			}
		case x.Kind() == reflect.Slice && hasID(x.Type().Elem()):
			diffByID(out, prefix+name, x, y)
		default:
			*out = append(*out, prefix+name+": changed")
		}
	}
}

func hasID(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	f, ok := t.FieldByName("ID")
	return ok && f.Type.Kind() == reflect.String
}

// diffByID names each entry removed, added or changed, in the order of a
// then of b's additions.
func diffByID(out *[]string, name string, a, b reflect.Value) {
	index := func(v reflect.Value) ([]string, map[string]any) {
		var ids []string
		m := map[string]any{}
		for i := range v.Len() {
			id := v.Index(i).FieldByName("ID").String()
			ids = append(ids, id)
			m[id] = v.Index(i).Interface()
		}
		return ids, m
	}
	aIDs, am := index(a)
	bIDs, bm := index(b)
	before := len(*out)
	defer func() {
		if len(*out) == before {
			*out = append(*out, name+": reordered")
		}
	}()
	for _, id := range aIDs {
		switch other, ok := bm[id]; {
		case !ok:
			*out = append(*out, name+"."+id+": removed")
		case !reflect.DeepEqual(am[id], other):
			*out = append(*out, name+"."+id+": changed")
		}
	}
	for _, id := range bIDs {
		if _, ok := am[id]; !ok {
			*out = append(*out, name+"."+id+": added")
		}
	}
}
