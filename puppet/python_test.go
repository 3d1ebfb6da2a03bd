package puppet

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"testing"
)

// pythonMatcher reads {"regexes": [...], "ids": [...]} and prints, for each
// regex, which ids re.match accepts, as Synapse (Python) would.
const pythonMatcher = `
import json, re, sys
req = json.load(sys.stdin)
out = []
for r in req["regexes"]:
    c = re.compile(r)
    out.append([c.match(i) is not None for i in req["ids"]])
json.dump(out, sys.stdout)
`

// TestRegexPython checks that Synapse, which compiles registration regexes
// with Python's re module, accepts ours and matches the same IDs as Go's
// RE2 (Dendrite).
func TestRegexPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH, cannot check the regexes against Python's re (Synapse)")
	}
	users := mustUsers(t, ircUsers)
	aliases := mustAliases(t, "#irc_{network}_{channel}:{server}")
	bound, err := users.Bind("network", "Libera_Chat")
	if err != nil {
		t.Fatal(err)
	}
	regexes := []string{users.Regex(), users.ClaimRegex(), aliases.Regex(), aliases.ClaimRegex(), bound.Regex()}
	ids := []string{
		"@irc_libera_alice:example.org", "@irc_Libera_alice:example.org", "@irc_libera_=61:example.org",
		"#irc_libera_#go-nuts:example.org", "#irc_libera_##c++:example.org", "#irc_lib_era_x:example.org",
		"@irc_=4cibera=5f=43hat_x:example.org", "@irc_libera_x:example.orgx", "@irc_l_\u00e9:example.org",
		"@irc_l_a\nb:example.org",
		// Not "...:example.org\n": Python's $ also matches before a final
		// newline (see Regex), and no valid Matrix ID ends in one.
	}
	for _, v := range []Values{
		{"network": "l_n", "nick": "A_b=c"}, {"network": "🎉", "nick": "#[x]\\"}, {"network": "-./", "nick": "\xff"},
	} {
		id, err := users.Format(v)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(id))
		v["channel"] = v["nick"]
		delete(v, "nick")
		alias, err := aliases.Format(v)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(alias))
	}
	req, err := json.Marshal(map[string][]string{"regexes": regexes, "ids": ids})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", pythonMatcher)
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var got [][]bool
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python3 output %q: %v", out, err)
	}
	for i, r := range regexes {
		re := regexp.MustCompile(r)
		want := make([]bool, len(ids))
		for j, id := range ids {
			want[j] = re.MatchString(id)
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("regex %s:\npython %v\ngo     %v\nids %q", r, got[i], want, ids)
		}
	}
}
