"""Semantic segmentation networks: a U-Net on a ResNet trunk (trains from scratch on a CPU) and
torchvision's DeepLabV3 and LR-ASPP for people with cached ImageNet backbones or a GPU."""
