package io.nemu.firmware;

import java.io.IOException;

/** A guest asset could not be built, found or read; the message names the cause. */
public class FirmwareException extends IOException {
    public FirmwareException(String message) {
        super(message);
    }

    public FirmwareException(String message, Throwable cause) {
        super(message, cause);
    }
}
