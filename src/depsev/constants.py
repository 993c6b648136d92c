"""Facts shared by every stage: column names, severity bands, interviewer types."""

from __future__ import annotations

AU_IDS_INTENSITY = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17",
                    "20", "23", "25", "26", "45"]
AU_IDS_PRESENCE = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17",
                   "20", "23", "25", "26", "28", "45"]
AU_INTENSITY = [f"AU{i}_r" for i in AU_IDS_INTENSITY]  # 17
AU_PRESENCE = [f"AU{i}_c" for i in AU_IDS_PRESENCE]  # 18
POSE = ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
GAZE = ["gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z",
        "gaze_angle_x", "gaze_angle_y"]
#: the 49 per-frame face features, in the order depsev writes them
FACE_FEATURES = POSE + GAZE + AU_INTENSITY + AU_PRESENCE
#: which face features the models read (``config.yaml: face.features``), selected when the video
#: normalization statistics are fitted (the face frame files always keep all 49):
#: ``all`` -- 6 pose + 8 gaze + 17 AU intensities + 18 AU presences; ``au`` -- the 35 AU columns;
#: ``au17`` -- the 17 AU intensities of the paper's Table 2
FACE_FEATURE_SETS = {"all": FACE_FEATURES, "au": AU_INTENSITY + AU_PRESENCE, "au17": AU_INTENSITY}
#: the name recorded in shard metadata and checkpoints for each face feature set
FACE_FEATURE_SET_NAMES = {"all": "openface2_pose_gaze_au49", "au": "openface2_au35", "au17": "openface2_au17"}


def face_feature_set_name(feature_names: list[str]) -> str:
    """The recorded name of a face feature list (``openface2_custom<N>`` for another subset)."""
    for key, names in FACE_FEATURE_SETS.items():
        if list(feature_names) == list(names):
            return FACE_FEATURE_SET_NAMES[key]
    return f"openface2_custom{len(feature_names)}"
FACE_META = ["frame", "timestamp", "confidence", "success"]
#: E-DAIC ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``: 53 columns, no face_id
EDAIC_OPENFACE_COLUMNS = FACE_META + FACE_FEATURES

#: PHQ-8 severity bands (Kroenke et al.; paper Table 1)
BAND_EDGES = [0, 5, 10, 15, 20, 25]  # band k covers [edge_k, edge_{k+1})
BAND_LABELS = ["0-4", "5-9", "10-14", "15-19", "20-24"]
N_BANDS = 5
PHQ_MIN, PHQ_MAX = 0, 24
BINARY_THRESHOLD = 10
#: columns of the band probabilities in every chunk / participant prediction table
P_BAND_COLUMNS = [f"p_band_{k}" for k in range(N_BANDS)]

#: interviewer types: Wizard-of-Oz (human-controlled) and autonomous AI agent
WOZ, AI = "woz", "ai"
INTERVIEWERS = (WOZ, AI)
WOZ_ID_RANGE = (300, 492)  # inclusive
AI_ID_RANGE = (600, 718)  # inclusive

SPLITS = ("train", "dev", "test")
#: model batch keys (sequence, mask) of each stream: shards, datasets, models, export and predict
STREAM_KEYS = {"audio": ("xa", "ma"), "video": ("xv", "mv")}
#: the two streams
STREAMS = tuple(STREAM_KEYS)
AUDIO_SR = 16000


def phq_band(score: int | float) -> int:
    """Band index 0..4 of a PHQ-8 score 0..24 (ValueError outside)."""
    s = float(score)
    if not (PHQ_MIN <= s <= PHQ_MAX):
        raise ValueError(f"PHQ-8 score {score!r} outside {PHQ_MIN}..{PHQ_MAX}")
    return min(int(s // 5), N_BANDS - 1)


def interviewer_from_id(participant_id: int) -> str:
    """E-DAIC convention: 300-492 Wizard-of-Oz, 600-718 AI agent (ValueError otherwise)."""
    pid = int(participant_id)
    if WOZ_ID_RANGE[0] <= pid <= WOZ_ID_RANGE[1]:
        return WOZ
    if AI_ID_RANGE[0] <= pid <= AI_ID_RANGE[1]:
        return AI
    raise ValueError(
        f"participant {pid} is outside the E-DAIC ID ranges (WoZ {WOZ_ID_RANGE}, AI {AI_ID_RANGE}); "
        "give its interviewer type in a sessions table (column 'interviewer')")

#: VGGish arithmetic (``audio.vggish.precision``): fp32, or bfloat16 convolutions and matrix products
VGGISH_PRECISIONS = ("fp32", "bf16")

#: how chunk predictions combine into a participant's (depsev.evaluate.aggregate); the order breaks ties
CHUNK_WEIGHTINGS = ("precision", "mean", "capped", "median")
#: the robust default: no single over-confident chunk decides a participant
DEFAULT_CHUNK_WEIGHTING = "capped"
