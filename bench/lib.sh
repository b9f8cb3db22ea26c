# Shared by the bench scripts (sourced; $dir must name a scratch directory).

# best of 3 wall-clock runs of a command: prints "seconds peak_kb"
best() {
	_b=""
	_m=0
	for _i in 1 2 3; do
		/usr/bin/time -f "%e %M" -o "$dir/time.out" "$@" >/dev/null 2>&1
		read -r _s _k <"$dir/time.out"
		if [ -z "$_b" ] || [ "$(echo "$_s < $_b" | bc -l)" = 1 ]; then _b=$_s; _m=$_k; fi
	done
	echo "$_b $_m"
}
