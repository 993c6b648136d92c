"""Rules vgg16_read / egemaps_read: the corpus' shipped feature CSVs -> depsev Parquet (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.features.shipped import egemaps_csv_to_parquet, vgg16_csv_to_parquet

    sm = snakemake  # noqa: F821
    convert = vgg16_csv_to_parquet if sm.rule == "vgg16_read" else egemaps_csv_to_parquet
    print(convert(sm.input.csv, sm.output.parquet))
