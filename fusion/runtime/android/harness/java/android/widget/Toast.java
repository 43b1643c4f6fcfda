package android.widget;

import android.content.Context;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Stand-in for android.widget.Toast: show() records the text for the harness. */
public class Toast {
    public static final int LENGTH_SHORT = 0;
    public static final int LENGTH_LONG = 1;
    private static final List<String> SHOWN = Collections.synchronizedList(new ArrayList<>());
    private final CharSequence text;

    private Toast(CharSequence text) {
        this.text = text;
    }

    public static Toast makeText(Context context, CharSequence text, int duration) {
        return new Toast(text);
    }

    public void show() {
        System.err.println("harness: toast: " + text);
        SHOWN.add(String.valueOf(text));
    }

    /** Harness only: the texts shown so far. */
    public static List<String> shown() {
        synchronized (SHOWN) {
            return new ArrayList<>(SHOWN);
        }
    }
}
