package component

import (
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"
)

// CapsNode is the XEP-0115 node that Matrix users' presences name: a
// disco#info query for CapsNode#ver at a Matrix user's JID is answered
// like one without a node.
const CapsNode = "https://github.com/causewaybridge/causeway"

// UserCapsVer returns the XEP-0115 verification string (SHA-1) of what
// a Matrix user's JID announces ([UserIdentities], [UserFeatures]).
// Servers read the features it stands for once, from disco#info, and
// then send PEP notifications a feature ending in +notify asks for.
func UserCapsVer() string { return capsVer(UserIdentities(), UserFeatures()) }

// capsVer computes a verification string (XEP-0115 §5.1) of identities
// without xml:lang and of features, with no extended forms.
func capsVer(ids []Identity, features []string) string {
	var idStrings []string
	for _, id := range ids {
		idStrings = append(idStrings, id.Category+"/"+id.Type+"//"+id.Name)
	}
	slices.Sort(idStrings)
	fs := slices.Clone(features)
	slices.Sort(fs)
	var b strings.Builder
	for _, s := range append(idStrings, fs...) {
		b.WriteString(s)
		b.WriteByte('<')
	}
	sum := sha1.Sum([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}
