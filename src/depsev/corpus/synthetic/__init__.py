"""A SYNTHETIC cohort in the exact E-DAIC layout, with planted, known effects.

The real E-DAIC is licensed and not shipped, so the demo workflow runs on this generator's output.
Nothing here is real data: the speech is a formant synthesiser, the faces are random processes shaped
like OpenFace 2.1.0 output, and the labels are drawn at random.  The files are read by the same
readers that read the real corpus (see ``docs/CONTRACT.md`` and ``corpus-formats.md``).

Layout written under ``out`` (E-DAIC's)::

    labels/{train,dev,test}_split.csv        Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),
                                             PTSD Severity
    labels/Detailed_PHQ8_Labels.csv          Participant_ID, 8 PHQ_8* items (0-3), PHQ_8Total (train+dev)
    data/<ID>_P/<ID>_AUDIO.wav               16 kHz mono PCM_16, interviewer + participant + room noise
    data/<ID>_P/<ID>_Transcript.csv          Start_Time,End_Time,Text,Confidence (participant turns only)
    data/<ID>_P/features/<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv   the 53 E-DAIC OpenFace columns
    ground_truth/participants.csv, turns.csv, oracle.json, summary.json, README.txt

Real-corpus quirks planted on purpose: some ``Gender`` values carry a trailing space (``'female '``);
about 20 % of the rows with ``PHQ_Score >= 10`` ship ``PHQ_Binary = 0`` (readers must derive the
binary label); OpenFace frame rate differs per session (28-32 fps: use ``timestamp``); 2-5 % of frames
fail (``success = 0``, low confidence, all features 0) in bursts, with low-confidence frames around them.

Cohort design: Wizard-of-Oz (human-controlled interviewer) sessions get IDs in 300-492, AI-agent
sessions IDs in 600-718.  About 60 % train / 20 % dev / 20 % test; the test split is AI-only, train
and dev are WoZ-heavy with about 25 % AI sessions.  PHQ-8 severity bands follow the E-DAIC band
proportions of each split (train 77/36/26/17/7 of 163, dev 26/15/8/6/1, test 19/16/9/10/2), allocated
per (split, interviewer) group, and every group of two or more holds at least one score below 10 and
one at or above 10.

Latent severity is the standardised score ``z = (PHQ - 7.31) / 6.09`` (mean and SD of E-DAIC's band
distribution with uniform scores inside a band; :data:`PRIOR_MEAN`, :data:`PRIOR_SD`).  Every planted
per-participant value is ``base + effect * z + offset`` with ``offset ~ N(0, noise SD)`` (then clipped
to a plausible range), and the files realise it with further frame / segment-level noise:

==================  ============  ======  ========  ==========  ========  ====  ======================
value               unit          base    per SD z  per PHQ pt  noise SD  r     realised in
==================  ============  ======  ========  ==========  ========  ====  ======================
f0_sd_semitones     semitones     2.6     -0.25     -0.041      0.71      .33   F0 contour
syllable_rate       syllables/s   4.4     -0.28     -0.046      0.8       .33   syllable durations
energy_db           dBFS          -26     -1.2      -0.197      3.4       .33   speech gain
pause_share         share         0.22    +0.04     +0.007      0.115     .33   pauses inside answers
smile_rate          episodes/min  3       -0.8      -0.131      1.2       .55   AU06/AU12 episodes
smile_intensity     AU12_r        2.2     -0.27     -0.044      0.62      .40   AU06/AU12 peaks
au04_level          AU04_r        0.5     +0.08     +0.013      0.24      .32   AU04_r
au15_level          AU15_r        0.35    +0.06     +0.010      0.22      .26   AU15_r
au17_level          AU17_r        0.55    +0.07     +0.011      0.25      .27   AU17_r
blink_rate          blinks/min    17      +1.6      +0.263      7         .22   AU45 blinks
woz_smile_rate      episodes/min  3.5     0         0           0.8       0     AU06/AU12, WoZ only
==================  ============  ======  ========  ==========  ========  ====  ======================

``r`` is the implied correlation of the planted value with the score (``|effect| / sqrt(effect^2 +
noise^2)``).  Interviewer effect: in WoZ sessions the participant also shows *polite* smiles (AU12,
weaker AU06) around the end of the interviewer's turns at ``woz_smile_rate`` -- independent of PHQ --
so a model blind to the interviewer type is biased.  AI-agent sessions have none.

Noise inside a session (on top of the per-participant offsets): F0 cycle jitter 0.6 % and 5 %
shimmer; syllable durations log-normal (SD 0.2) around ``1 / syllable_rate``; each answer's pause total
log-normal (SD 0.15) around the planted share, split at random between its 2-4 phrases (>= 0.25 s
each); smile, polite-smile and blink episodes at random times with random durations and peaks (15 %
SD on smile peaks; counts are the expected number rounded at random, so realised rates stay close to
the planted ones); AU levels drift log-normally (SD 0.5, time constant 2-3 s) plus 0.06 frame noise;
stationary coloured room noise 18-28 dB below the cohort's typical speech level (-26 dBFS), so the
per-participant SNR is about 15-25 dB and lower for quiet (more severe) speakers.

Ground truth: ``participants.csv`` holds the planted values *as realised in the files* (episode and
syllable counts, the actual pause durations, the realised F0 contour and speech gain; the drawn
targets are kept as ``<name>_target``) and ``oracle_phq``, the posterior mean of ``z`` under the prior
``N(0, 1)`` given every per-feature inversion ``(value - base) / effect``, weighted by
``effect^2 / noise^2`` -- fixed weights from the table above, nothing fitted.  ``oracle.json`` scores it
and the train-mean predictor per split (MAE, RMSE, CCC with population variances).
"""

# The package docstring above is also written into every cohort's ground_truth/README.txt: edit it
# knowing that it changes the generator's output.  The code is split along the generator's seams:
#
#   effects    the latent-severity prior, the planted effects, the SYNTHETIC note
#   cohort     splits, interviewer types, PHQ-8 scores and items, label quirks, planted targets
#   timeline   one session's questions, answers, phrases and syllables
#   speech     the session audio (formant synthesiser, room noise)
#   face       the session's OpenFace 2.1.0 table
#   layout     the E-DAIC file layout, label and transcript writers, the cohort marker and folder checks
#   oracle     the oracle prediction and its scores (ground_truth/oracle.json)
#   generate   one session's files, the whole cohort, ground_truth/
#
# Everything public is re-exported here: import from depsev.corpus.synthetic, not from the modules.

from __future__ import annotations

from depsev.corpus.synthetic.cohort import (
    MAX_PARTICIPANTS,
    MIN_PARTICIPANTS,
    allocate_bands,
    draw_participants,
    phq_items,
    plan_splits,
    plant_values,
)
from depsev.corpus.synthetic.effects import (
    EDAIC_BAND_COUNTS,
    EFFECTS,
    PRIOR_MEAN,
    PRIOR_SD,
    SYNTHETIC_NOTE,
    WOZ_SMILE_PEAK,
    WOZ_SMILE_RATE,
    WOZ_SMILE_SD,
    Effect,
    effect_table,
)
from depsev.corpus.synthetic.face import synthesize_face
from depsev.corpus.synthetic.generate import MIN_MINUTES, generate_cohort, generate_session
from depsev.corpus.synthetic.layout import (
    COHORT_MARKER,
    PHQ8_ITEMS,
    SPLIT_COLUMNS,
    TRANSCRIPT_COLUMNS,
    audio_path,
    check_cohort_folder,
    is_synthetic_cohort,
    openface_path,
    transcript_path,
    transcript_table,
    write_csv_fast,
    write_labels,
)
from depsev.corpus.synthetic.oracle import oracle_predict, oracle_report, regression_metrics
from depsev.corpus.synthetic.speech import CTRL_RATE, Voice, synthesize_audio
from depsev.corpus.synthetic.timeline import (
    INTERVIEWER,
    INTERVIEWER_RATE,
    PARTICIPANT,
    SPEAKER_NAMES,
    VOWELS,
    Timeline,
    plan_timeline,
)

__all__ = [
    "COHORT_MARKER",
    "CTRL_RATE",
    "EDAIC_BAND_COUNTS",
    "EFFECTS",
    "INTERVIEWER",
    "INTERVIEWER_RATE",
    "MAX_PARTICIPANTS",
    "MIN_MINUTES",
    "MIN_PARTICIPANTS",
    "PARTICIPANT",
    "PHQ8_ITEMS",
    "PRIOR_MEAN",
    "PRIOR_SD",
    "SPEAKER_NAMES",
    "SPLIT_COLUMNS",
    "SYNTHETIC_NOTE",
    "TRANSCRIPT_COLUMNS",
    "VOWELS",
    "WOZ_SMILE_PEAK",
    "WOZ_SMILE_RATE",
    "WOZ_SMILE_SD",
    "Effect",
    "Timeline",
    "Voice",
    "allocate_bands",
    "audio_path",
    "check_cohort_folder",
    "draw_participants",
    "effect_table",
    "generate_cohort",
    "generate_session",
    "is_synthetic_cohort",
    "openface_path",
    "oracle_predict",
    "oracle_report",
    "phq_items",
    "plan_splits",
    "plan_timeline",
    "plant_values",
    "regression_metrics",
    "synthesize_audio",
    "synthesize_face",
    "transcript_path",
    "transcript_table",
    "write_csv_fast",
    "write_labels",
]
