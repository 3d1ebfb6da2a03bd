package ircbench

// Result is one measured figure: a line of the JSON-lines file the
// benchmarks append to (BENCH_IRC_OUT), read by bench/irc/report.
type Result struct {
	// Bench names the measurement ("memory/one-channel", "irc-to-matrix").
	Bench string `json:"bench"`
	// Metric names the figure, with its unit ("rss_kib_per_conn_1000").
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	// Run numbers the repetition, from 1.
	Run int `json:"run"`
}
