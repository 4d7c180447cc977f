package coordinator

import (
	"strings"
	"testing"
)

func TestFailureSummary(t *testing.T) {
	for name, tc := range map[string]struct{ out, want string }{
		"go test": {`=== RUN   TestAdd
--- FAIL: TestAdd (0.00s)
    add_test.go:9: Add(1, 2) = 4, want 3
=== RUN   TestSub
--- FAIL: TestSub (0.00s)
    sub_test.go:5: boom
FAIL
FAIL	example.com/m	0.003s
FAIL
`, ": failing test TestAdd: add_test.go:9: Add(1, 2) = 4, want 3 (and 1 more: TestSub)"},
		"go subtest": {"--- FAIL: TestX (0.00s)\n    --- FAIL: TestX/case (0.00s)\n        x_test.go:3: bad\nFAIL\n", ": failing test TestX/case: x_test.go:3: bad"},
		"pytest": {`E       assert 4 == 3
=========================== short test summary info ============================
FAILED tests/test_add.py::test_add - assert 4 == 3
FAILED tests/test_add.py::test_sub
========================= 2 failed in 0.02s =========================
`, ": failing test tests/test_add.py::test_add: assert 4 == 3 (and 1 more: tests/test_add.py::test_sub)"},
		"jest": {` FAIL  ./sum.test.js
  ● sum › adds 1 + 2 to equal 3

    expect(received).toBe(expected) // Object.is equality

Tests:       1 failed, 1 total
`, ": failing test sum › adds 1 + 2 to equal 3: expect(received).toBe(expected) // Object.is equality"},
		"cargo": {`test tests::it_adds ... FAILED

failures:

---- tests::it_adds stdout ----
thread 'tests::it_adds' panicked at src/lib.rs:10:9:
assertion failed: 2 + 2 == 5

test result: FAILED. 0 passed; 1 failed
error: test failed, to rerun pass ` + "`--lib`" + `
`, ": failing test tests::it_adds: assertion failed: 2 + 2 == 5"},
		"unittest": {`F.
======================================================================
FAIL: test_headline (tests.test_headline.T.test_headline)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/w/tests/test_headline.py", line 6, in test_headline
    self.assertEqual(headline("x"), "X!")
AssertionError: 'x' != 'X!'
- x
+ X!


----------------------------------------------------------------------
Ran 2 tests in 0.001s

FAILED (failures=1)
`, ": failing test tests.test_headline.T.test_headline: AssertionError: 'x' != 'X!'"},
		"generic":   {"checking…\nerror: config.json: unexpected token at line 3\nexit status 1\n", ": error: config.json: unexpected token at line 3"},
		"no output": {"", " (no output)"},
		"only FAIL": {"FAIL\n", ": FAIL"},
	} {
		if got := failureSummary(tc.out); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, tc.want)
		}
		if strings.Contains(failureSummary(tc.out), "\n") {
			t.Errorf("%s: the summary must be one line", name)
		}
	}
}
