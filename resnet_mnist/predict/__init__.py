"""From a drawing or an image to the model's answer: preprocessing, inference, the line-up of runs."""
