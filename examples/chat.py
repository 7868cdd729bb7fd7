"""Chat: a pygame chat window, written in pygnetic's *pygame-events style*.

One player hosts (their window also runs the server); the others join:

    python examples/chat.py --host-game                      # host on port 10000
    python examples/chat.py --join --host 192.168.1.20       # join that host

Type a nickname and press Enter, then chat. The mouse wheel scrolls back.

How the networking fits into a pygame loop:

* ``pygnetic.init(events=True)`` makes network activity arrive as pygame events
  of type ``event.NETWORK``, from the same ``pygame.event.get()`` as keys and
  mouse clicks. ``e.net_type`` says what happened (connected, received, ...).
* ``client.update()`` (and ``server.update()`` on the host), once per frame, do
  the sending and receiving; that is when those events are posted.
* The host's server is a tiny ``Relay`` handler instead, created with
  ``events=False``, so the host's server traffic and its own player's traffic
  never mix in one event queue.

``--selftest FRAMES`` lets a bot type for at least FRAMES frames; it exits 0
with ``selftest ok: sent=N received=M`` once it has chatted with another player
(the host also waits for its guests to leave), or 1 if that never happened.
``--screenshot FILE`` saves the window when the program ends.
"""

from __future__ import annotations

import argparse
import itertools

import pygame

import pygnetic
import pygnetic.event as event  # not `from ... import NETWORK`: init() sets its value

DEFAULT_PORT = 10000
WIDTH, HEIGHT, PANEL = 800, 480, 250  # window size, and the width of the side panel
FPS = 60
MAX_TEXT = 120  # longest line a player may send
BACKGROUND, BOX, TEXT = (24, 26, 33), (40, 44, 56), (230, 230, 230)
DIM, MINE, NOTE = (140, 145, 160), (120, 200, 255), (250, 200, 90)  # NOTE: joins and leaves

# Every program in a game registers the same messages, in the same order.
hello = pygnetic.register("hello", ("nick",))  # player -> host: my nickname
say = pygnetic.register("say", ("text",))  # player -> host: a line I typed
line = pygnetic.register("line", ("nick", "text"))  # host -> players: someone said this
notice = pygnetic.register("notice", ("text",))  # host -> players: someone joined or left


class Relay(pygnetic.Handler):
    """Host side: the server makes one Relay per player, and calls it inside server.update()."""

    nick = ""

    def tell_everyone(self, text):
        for connection in self.server.connections():
            connection.net_notice(text)

    def net_hello(self, message, **kwargs):
        self.nick = str(message.nick)[:20]  # never trust what arrives: cut it to size
        self.tell_everyone(f"{self.nick} joined")

    def net_say(self, message, **kwargs):
        for connection in self.server.connections(exclude=self.connection):
            connection.net_line(self.nick or "?", str(message.text)[:MAX_TEXT])

    def on_disconnect(self):
        if self.nick:
            self.tell_everyone(f"{self.nick} left")


# ----------------------------------------------------------------------------
# LAN GAMES PANEL (placeholder). LAN discovery is being built separately; when
# it exists, find_lan_games() will return the games announced on the local
# network, and draw_lan_panel() already lists them.
# ----------------------------------------------------------------------------
def find_lan_games():
    """Return ``[(name, host, port), ...]`` of chats hosted on the LAN. Not yet: []."""
    return []


def draw_lan_panel(screen, font, rect):
    screen.blit(font.render("LAN games to join", True, TEXT), (rect.x, rect.y))
    games = find_lan_games()
    rows = [f"{name}  {host}:{port}" for name, host, port in games] or ["(none found yet)"]
    for number, text in enumerate(rows):
        screen.blit(font.render(text, True, DIM), (rect.x, rect.y + 26 + 22 * number))


class ChatWindow:
    """What the player sees: the message list, the text box and the side panel."""

    def __init__(self, screen, nick, status):
        self.screen, self.nick, self.status = screen, nick, status
        self.font = pygame.font.Font(None, 24)  # pygame's built-in font
        self.rows = []  # (text, colour), already wrapped to the list's width
        self.scroll = 0  # how many rows the player has scrolled back
        self.typed = ""
        self.said = self.heard = 0  # lines sent, and lines received from others

    def add(self, text, colour=TEXT):
        words, row = text.split(" "), ""
        for word in words:  # wrap: as many words per row as fit
            if row and self.font.size(f"{row} {word}")[0] > WIDTH - PANEL - 30:
                self.rows.append((row, colour))
                row = word
            else:
                row = f"{row} {word}" if row else word
        self.rows.append((row, colour))

    def draw(self, rtt):
        screen, font = self.screen, self.font
        screen.fill(BACKGROUND)
        height = font.get_linesize()
        visible = (HEIGHT - 70) // height
        end = len(self.rows) - self.scroll
        for number, (text, colour) in enumerate(self.rows[max(0, end - visible) : end]):
            screen.blit(font.render(text, True, colour), (15, 15 + number * height))
        box = pygame.Rect(10, HEIGHT - 45, WIDTH - PANEL - 20, 35)
        pygame.draw.rect(screen, BOX, box, border_radius=6)
        prompt = "" if self.nick else "Your nickname: "
        cursor = "_" if pygame.time.get_ticks() // 500 % 2 else " "
        screen.blit(font.render(prompt + self.typed + cursor, True, TEXT), (20, HEIGHT - 36))
        panel = pygame.Rect(WIDTH - PANEL, 0, PANEL, HEIGHT)
        pygame.draw.rect(screen, BOX, panel)
        info = [self.status, f"you: {self.nick or '?'}", f"round trip: {rtt}"]
        for number, text in enumerate(info):
            screen.blit(font.render(text, True, DIM), (panel.x + 12, 15 + 22 * number))
        draw_lan_panel(screen, font, pygame.Rect(panel.x + 12, 110, PANEL - 24, HEIGHT - 120))


def on_network(e, window):
    """Handle one pygame event of type event.NETWORK, for our client connection."""
    if e.net_type == event.NET_CONNECTED:
        window.add("* connected", NOTE)
    elif e.net_type == event.NET_DISCONNECTED:
        window.add(f"* disconnected: {e.reason}", NOTE)
    elif e.net_type == event.NET_RECEIVED and e.msg_type == line:
        window.heard += 1
        window.add(f"<{e.message.nick}> {e.message.text}")
    elif e.net_type == event.NET_RECEIVED and e.msg_type == notice:
        window.add(f"* {e.message.text}", NOTE)


def on_enter(window, connection):
    """The player pressed Enter: the text is their nickname, or a line to send."""
    text, window.typed = window.typed.strip(), ""
    if not text:
        return
    if not window.nick:
        window.nick = text[:20]
        connection.net_hello(window.nick)  # queued if we are still connecting
    elif connection.net_say(text):  # False when the connection has closed
        window.said += 1
        window.add(f"<{window.nick}> {text}", MINE)
    else:
        window.add("* not sent: not connected", NOTE)


HOST_LINES = ["hi, welcome to my game!", "arena starts in a minute", "arrow keys move", "go!"]
GUEST_LINES = ["hey! thanks for hosting", "ready when you are", "got it", "gg"]


def bot(nick, phrases):
    """Self-test player: yield, frame by frame, the events a person typing would make."""
    for text in itertools.chain([nick] if nick else [], itertools.cycle(phrases)):
        for char in text:
            yield [pygame.event.Event(pygame.TEXTINPUT, text=char)]
            yield []  # a key every other frame
        yield [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r")]
        yield from [[]] * 20


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic chat (pygame events style)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--host-game", action="store_true", help="run the server here, and chat")
    mode.add_argument("--join", action="store_true", help="join the chat hosted at --host")
    parser.add_argument("--host", help="address to join, or to listen on when hosting")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0: any free port")
    parser.add_argument("--adapter", choices=["enet", "socket"], help="default: enet if installed")
    parser.add_argument("--nick", help="nickname (else the window asks)")
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="let a bot chat")
    parser.add_argument("--screenshot", metavar="FILE", help="save the window at the end")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    pygame.init()  # before pygnetic.init(events=True): events need pygame's queue
    if not pygnetic.init(events=True, n_module=args.adapter or ("enet", "socket")):
        return 2
    screen = pygame.display.set_mode((WIDTH, HEIGHT))
    server, host, port = None, args.host or "127.0.0.1", args.port
    if args.host_game:
        server = pygnetic.Server(args.host or "", args.port, handler=Relay, events=False)
        port = server.address[1]
        print(f"listening on {server.address[0]}:{port}", flush=True)
        host = "127.0.0.1" if args.host in (None, "", "0.0.0.0") else args.host
    status = f"hosting on port {port}" if server else f"joined {host}:{port}"
    pygame.display.set_caption(f"pygnetic chat - {status}")
    client = pygnetic.Client()
    connection = client.connect(host, port)  # the host's own player connects like anyone
    window = ChatWindow(screen, None, status)
    if args.nick:
        window.typed = args.nick
        on_enter(window, connection)
    player = None
    if args.selftest:
        lines = HOST_LINES if server else GUEST_LINES
        player = bot(None if args.nick else ("Ann" if server else "Bob"), lines)
    pygame.key.start_text_input()  # ask for TEXTINPUT events: typed characters, layout-aware

    clock, frame, running, ok = pygame.time.Clock(), 0, True, False
    while running:
        if server:
            server.update()  # relay what the players said (Relay's methods run here)
        client.update()  # send what we said, post what arrived as NETWORK events
        for e in pygame.event.get():
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                running = False
            elif e.type == event.NETWORK:
                on_network(e, window)
            elif e.type == pygame.TEXTINPUT:
                window.typed = (window.typed + e.text)[:MAX_TEXT]
            elif e.type == pygame.KEYDOWN and e.key == pygame.K_RETURN:
                on_enter(window, connection)
            elif e.type == pygame.KEYDOWN and e.key == pygame.K_BACKSPACE:
                window.typed = window.typed[:-1]
            elif e.type == pygame.MOUSEWHEEL:
                window.scroll = max(0, min(len(window.rows) - 1, window.scroll + e.y))
        rtt = connection.round_trip_time
        window.draw("measuring..." if rtt is None else f"{rtt:.0f} ms")
        pygame.display.flip()
        clock.tick(FPS)
        frame += 1
        if player:
            for e in next(player):
                pygame.event.post(e)
            guests = len(server.connections()) - 1 if server else 0
            ok = frame >= args.selftest and window.heard and window.said and guests <= 0
            running = running and not ok and frame < args.selftest + 20 * FPS

    if args.screenshot:
        pygame.image.save(screen, args.screenshot)
    client.close()  # close the network before pygame.quit(): closing posts events
    if server:
        server.close()
    pygame.quit()
    if args.selftest:
        print(f"selftest {'ok' if ok else 'FAILED'}: sent={window.said} received={window.heard}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
