# The tutorial's distillation data blend (§1 "Data Blend"), character for character. Paths are
# relative: distillation runs in ${DATA_ROOT}, where the data step writes tokenized_nemotron_v2/.
DATA_BLEND=" \
5 tokenized_nemotron_v2/nvidia--Nemotron-Pretraining-SFT-v1_Nemotron-SFT-Code_train_text_max10000000 \
20 tokenized_nemotron_v2/nvidia--Nemotron-Pretraining-SFT-v1_Nemotron-SFT-General_train_text_max10000000 \
5 tokenized_nemotron_v2/nvidia--Nemotron-Pretraining-SFT-v1_Nemotron-SFT-MATH_train_text_max10000000 \
15 tokenized_nemotron_v2/nvidia--Nemotron-Math-v2_default_high_part00_messages \
15 tokenized_nemotron_v2/nvidia--Nemotron-Math-v2_default_high_part01_messages \
15 tokenized_nemotron_v2/competitive_programming_python_00_messages \
5 tokenized_nemotron_v2/competitive_programming_cpp_00_messages \
10 tokenized_nemotron_v2/nvidia--Nemotron-Post-Training-Dataset-v1_default_stem_messages_max5000000 \
3 tokenized_nemotron_v2/MCQ_messages \
2 tokenized_nemotron_v2/RQA_messages \
3 tokenized_nemotron_v2/reasoning_on_messages \
2 tokenized_nemotron_v2/reasoning_off_messages \
"
