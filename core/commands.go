package core

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/causewaybridge/causeway/bridges"
)

// commandTable holds the bot's commands, registered per module
// (bridges.CommandProvider). A command runs as "!<name>" when one module
// defines that name, and always as "!<module> <name>", the module's ID in
// front; two modules may define the same name.
type commandTable struct {
	groups []*commandGroup          // in module order; modules without commands left out
	byID   map[string]*commandGroup // module ID → its commands
	byName map[string][]*commandGroup
}

// commandGroup is one module's commands.
type commandGroup struct {
	module string
	names  []string // sorted
	byName map[string]bridges.Command
}

// commandCall is a command found for a line, with the text after it.
type commandCall struct {
	module string
	cmd    bridges.Command
	typed  string // how the user named it: "nick" or "irc nick"
	rest   string
}

func newCommandTable() *commandTable {
	return &commandTable{byID: map[string]*commandGroup{}, byName: map[string][]*commandGroup{}}
}

// add registers a module's commands. A module may not define "help" or
// the same name twice.
func (t *commandTable) add(module string, cmds []bridges.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	g := &commandGroup{module: module, byName: map[string]bridges.Command{}}
	for _, c := range cmds {
		name := strings.ToLower(c.Name)
		if name == "" || name == "help" || strings.ContainsAny(name, " \t\n") {
			return fmt.Errorf("module %s: invalid command name %q", module, c.Name)
		}
		if _, dup := g.byName[name]; dup {
			return fmt.Errorf("module %s: command !%s already defined", module, name)
		}
		g.byName[name] = c
		g.names = append(g.names, name)
		t.byName[name] = append(t.byName[name], g)
	}
	sort.Strings(g.names)
	t.groups = append(t.groups, g)
	t.byID[module] = g
	return nil
}

// lookup finds the command line names (the text after "!"). When it names
// none, or more than one, reply is the answer to give instead.
//
// "!<module> <word> …" is the prefix form, except where the module defines
// a command named like itself (IRC's "!irc link"): when word is one of
// that command's Subcommands, or not one of the module's commands, that
// command runs with the words after its name.
func (t *commandTable) lookup(line string, isAdmin bool) (call commandCall, reply string) {
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	word = strings.ToLower(word)
	if word == "" || word == "help" {
		return commandCall{}, t.help(isAdmin)
	}
	if g := t.byID[word]; g != nil {
		return t.lookupIn(g, rest, isAdmin)
	}
	switch gs := t.byName[word]; len(gs) {
	case 0:
		return commandCall{}, fmt.Sprintf("Unknown command !%s. Send !help for the list.", word)
	case 1:
		return commandCall{module: gs[0].module, cmd: gs[0].byName[word], typed: word, rest: rest}, ""
	default:
		forms := make([]string, len(gs))
		for i, g := range gs {
			forms[i] = "!" + g.module + " " + word
		}
		return commandCall{}, fmt.Sprintf("Several bridges have a command !%s: send %s.", word, strings.Join(forms, " or "))
	}
}

// lookupIn resolves the words after a module's ID (see lookup).
func (t *commandTable) lookupIn(g *commandGroup, rest string, isAdmin bool) (commandCall, string) {
	sub, subRest, _ := strings.Cut(strings.TrimSpace(rest), " ")
	sub = strings.ToLower(sub)
	own, hasOwn := g.byName[g.module]
	c, isCmd := g.byName[sub]
	switch {
	case hasOwn && slices.ContainsFunc(own.Subcommands, func(s string) bool { return strings.EqualFold(s, sub) }):
		return commandCall{module: g.module, cmd: own, typed: g.module, rest: rest}, ""
	case isCmd:
		return commandCall{module: g.module, cmd: c, typed: g.module + " " + sub, rest: subRest}, ""
	case hasOwn:
		return commandCall{module: g.module, cmd: own, typed: g.module, rest: rest}, ""
	case sub == "":
		return commandCall{}, "Commands of " + g.module + ":" + t.groupHelp(g, isAdmin)
	}
	return commandCall{}, fmt.Sprintf("Unknown command !%s %s. Send !help for the list.", g.module, sub)
}

// help lists the commands isAdmin may run, grouped by module.
func (t *commandTable) help(isAdmin bool) string {
	var b strings.Builder
	b.WriteString("Commands:\n!help: this list (a bridge's name first picks its command: !<bridge> <command>)")
	for _, g := range t.groups {
		if lines := t.groupHelp(g, isAdmin); lines != "" {
			b.WriteString("\n\n" + g.module + ":" + lines)
		}
	}
	return b.String()
}

// groupHelp is one line per command of g that isAdmin may run, each
// starting with a newline; a name that needs the module's ID in front
// (defined by another module too, or another module's ID) shows it, except
// the command named like the module itself ("!irc").
func (t *commandTable) groupHelp(g *commandGroup, isAdmin bool) string {
	var b strings.Builder
	for _, n := range g.names {
		c := g.byName[n]
		if c.AdminOnly && !isAdmin {
			continue
		}
		form := n
		if n != g.module && (len(t.byName[n]) > 1 || t.byID[n] != nil) {
			form = g.module + " " + n
		}
		b.WriteString("\n!" + form)
		if c.Args != "" {
			b.WriteString(" " + c.Args)
		}
		b.WriteString(": " + c.Help)
	}
	return b.String()
}
