package xmpp

import (
	"encoding/xml"
	"strings"
)

// node is an element of a stanza's payload as a tree: what the queries
// the gateway answers (MUC history, MAM) need of their XML.
type node struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*node
	Text     string // the text directly inside
}

// tree returns a node holding the elements of toks (a stanza's Inner:
// its content without its own start and end elements) as children.
// Unbalanced end elements are ignored; elements left open end with toks.
func tree(toks []xml.Token) *node {
	root := &node{}
	stack := []*node{root}
	for _, t := range toks {
		top := stack[len(stack)-1]
		switch t := t.(type) {
		case xml.StartElement:
			n := &node{Name: t.Name, Attr: t.Attr}
			top.Children = append(top.Children, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			top.Text += string(t)
		}
	}
	return root
}

// child returns n's first child element space/local, or nil (also for a
// nil n).
func (n *node) child(space, local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// all returns n's child elements space/local.
func (n *node) all(space, local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.Children {
		if c.Name.Space == space && c.Name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// attr returns the attribute name (no namespace) of n, or "".
func (n *node) attr(name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// text returns the text directly inside n, trimmed.
func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}
