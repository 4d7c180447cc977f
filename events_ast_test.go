package agentos_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Every event a writer appends carries its kind's payload struct, never a
// map: TestNoMapEventData scans every non-test .go file of the module for
// EventInput literals whose Data is a map, and for calls of Transition whose
// detail is one. Test-support packages (storetest, memorytest, …: names
// ending in "test") are skipped: they exercise the store's kind-agnostic
// Append with arbitrary data on purpose.
func TestNoMapEventData(t *testing.T) {
	fset := token.NewFileSet()
	var probs []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != "." && (strings.HasPrefix(n, ".") || n == "testdata" || strings.HasSuffix(n, "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		probs = append(probs, mapEventData(fset, f, packageMapFuncs(f))...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Error(p)
	}
}

// The checker finds each form of map event data the pipeline used to write.
func TestNoMapEventDataFindsMaps(t *testing.T) {
	src := `package x
func a() {
	c.DB.Append(ctx, agentos.EventInput{Kind: "k", Data: map[string]any{"a": 1}})
	data := map[string]any{"rule": 1}
	c.DB.Append(ctx, agentos.EventInput{Kind: "k", Data: data})
	c.DB.Append(ctx, agentos.EventInput{Kind: "k", Data: dispatchData(d)})
	evs := []agentos.EventInput{{Kind: "k", Data: map[string]string{}}}
	c.DB.Transition(ctx, id, from, to, actor, upd, map[string]any{"phase": "plan"})
	c.transition(ctx, t, to, actor, upd, data)
	c.DB.Append(ctx, agentos.EventInput{Kind: "k", Data: agentos.IntegratedEvent{}})
	c.transition(ctx, t, to, actor, upd, agentos.TransitionDetail{Phase: "plan"})
}
func dispatchData(d any) map[string]any { return nil }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := mapEventData(fset, f, packageMapFuncs(f)); len(got) != 6 {
		t.Errorf("found %d map event data, want 6:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// packageMapFuncs are the file's functions that return a map.
func packageMapFuncs(f *ast.File) map[string]bool {
	out := map[string]bool{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Type.Results != nil {
			for _, r := range fd.Type.Results.List {
				if _, ok := r.Type.(*ast.MapType); ok {
					out[fd.Name.Name] = true
				}
			}
		}
	}
	return out
}

// mapEventData reports every EventInput literal whose Data is a map (a map
// literal, a variable declared as one in the same function, or a call of a
// function returning one) and every Transition call given one.
func mapEventData(fset *token.FileSet, f *ast.File, mapFuncs map[string]bool) []string {
	var probs []string
	mapVars := map[string]bool{}
	isMap := func(e ast.Expr) bool {
		switch x := ast.Unparen(e).(type) {
		case *ast.CompositeLit:
			_, ok := x.Type.(*ast.MapType)
			return ok
		case *ast.Ident:
			return mapVars[x.Name]
		case *ast.CallExpr:
			if id, ok := x.Fun.(*ast.Ident); ok {
				return mapFuncs[id.Name]
			}
		}
		return false
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.AssignStmt:
			for i, r := range x.Rhs {
				if i < len(x.Lhs) && isMap(r) {
					if id, ok := x.Lhs[i].(*ast.Ident); ok {
						mapVars[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			if _, ok := x.Type.(*ast.MapType); ok {
				for _, id := range x.Names {
					mapVars[id.Name] = true
				}
			}
		case *ast.CompositeLit:
			if !isEventInput(x.Type) && !(x.Type == nil && hasKey(x, "Kind")) {
				return true
			}
			for _, el := range x.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Data") && isMap(kv.Value) {
					probs = append(probs, fset.Position(kv.Pos()).String()+": EventInput.Data is a map: use the kind's payload struct (agentos.EventPayloads)")
				}
			}
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Transition" && sel.Sel.Name != "transition") {
				return true
			}
			for _, a := range x.Args {
				if isMap(a) {
					probs = append(probs, fset.Position(a.Pos()).String()+": Transition's detail is a map: use agentos.TransitionDetail")
				}
			}
		}
		return true
	})
	return probs
}

func isEventInput(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "EventInput"
	case *ast.Ident:
		return x.Name == "EventInput"
	}
	return false
}

// hasKey: an elided-type literal in a []EventInput is recognised by its Kind.
func hasKey(c *ast.CompositeLit, key string) bool {
	for _, el := range c.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, key) {
			return true
		}
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
