# Written by scenario_benchmark: test AUC per model (mean and std over seeds).
set datafile separator ','
set terminal pngcairo noenhanced size 1080,480
set output 'docs/results/scenario_synthetic.png'
set title 'Scenario-Wise Rec models: test AUC (mean ± std over seeds)'
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set boxwidth 0.8
set xtics rotate by -30
set ylabel 'AUC'
set grid ytics
set key off
stats 'docs/results/scenario_synthetic.csv' using 4 nooutput
set yrange [STATS_min - 0.02 : STATS_max + 0.02]
plot 'docs/results/scenario_synthetic.csv' using 4:5:xtic(1) every ::1 title 'AUC'
