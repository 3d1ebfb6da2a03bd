package matrix

import "strings"

// StripReplyFallback removes the reply fallback a Matrix client may put
// at the start of a reply's body (the "> <@user:server> quote" lines,
// deprecated by Matrix 1.13 but still sent) and the blank line after
// it. A body that does not start with "> " is returned as is.
func StripReplyFallback(body string) string {
	if !strings.HasPrefix(body, "> ") {
		return body
	}
	for strings.HasPrefix(body, ">") {
		i := strings.IndexByte(body, '\n')
		if i < 0 {
			return ""
		}
		body = body[i+1:]
	}
	return strings.TrimPrefix(body, "\n")
}
