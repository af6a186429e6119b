set terminal pngcairo size 1200,940 font ",9"
set output "chart.png"
set multiplot layout 2,2 columnsfirst title "bars: median of 15 repetitions; error bars: lowest to highest repetition" font ",10"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set boxwidth 0.8
set yrange [0:*]
set xtics rotate by -30 nomirror
set key off
set grid ytics
set title "host: server CPU s per GB: the nginx worker, or HAProxy (lower is better)"
unset label 1
unset object 1
set offsets 0, 0, 0, 0
plot "raw/chart.dat" index 0 using 2:3:4:xtic(1) lc rgb "#4a7ab0"
set title "host: short connections per s, a full TLS handshake each (higher is better)"
unset label 1
unset object 1
set offsets 0, 0, 0, 0
plot "raw/chart.dat" index 1 using 2:3:4:xtic(1) lc rgb "#4a7ab0"
set title "guest, EMULATED: server CPU s per GB: the nginx worker, or HAProxy (lower is better)"
set label 1 "EMULATED (QEMU TCG)\n46x the host's CPU per GB for the same work\nnot real speed: compare bars within this panel only" at graph 0.5, graph 0.9 center font ",10" tc rgb "#b03030" front
set object 1 rect from graph 0, graph 0 to graph 1, graph 1 behind fc rgb "#fbeeee" fs solid 1.0 noborder
set offsets 0, 0, graph 0.3, 0
plot "raw/chart.dat" index 2 using 2:3:4:xtic(1) lc rgb "#b07a7a"
set title "guest, EMULATED: short connections per s, a full TLS handshake each (higher is better)"
set label 1 "EMULATED (QEMU TCG)\n28x the host's CPU per handshake for the same work\nnot real speed: compare bars within this panel only" at graph 0.5, graph 0.9 center font ",10" tc rgb "#b03030" front
set object 1 rect from graph 0, graph 0 to graph 1, graph 1 behind fc rgb "#fbeeee" fs solid 1.0 noborder
set offsets 0, 0, graph 0.3, 0
plot "raw/chart.dat" index 3 using 2:3:4:xtic(1) lc rgb "#b07a7a"
unset multiplot
