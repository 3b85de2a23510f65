package io.nemu.firmware.cli;

import picocli.CommandLine.Command;

/** {@code nemu image ...}: the guest image. */
@Command(name = "image", description = "Build and inspect the guest image (kernel, initramfs).",
        mixinStandardHelpOptions = true,
        subcommands = {ImageBuildCommand.class, ImageShowCommand.class})
public final class ImageCommand {
}
