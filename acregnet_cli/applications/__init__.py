"""The paper's applications: multi-atlas segmentation, quality by reverse classification
accuracy, and the Section 5 studies of the learnt anatomical representation."""
