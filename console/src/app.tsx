/** The console's frame: sign-in, the navigation, and one route per screen (each linkable). */
import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { session } from './api/client';
import { BASE, href } from './ui/kit';
import { SignIn } from './screens/SignIn';
import { EstateScreen } from './screens/Estate';
import { OnboardScreen } from './screens/Onboard';
import { CustomerScreen } from './screens/Customer';
import { HeldDeletionsScreen } from './screens/HeldDeletions';
import { UsersScreen } from './screens/Users';
import { UserScreen } from './screens/User';
import { ConfigurationScreen } from './screens/Configuration';
import { NumbersScreen } from './screens/Numbers';
import { ProvisioningScreen } from './screens/Provisioning';
import { DeadLettersScreen } from './screens/DeadLetters';

export function App() {
  const [signedIn, setSignedIn] = useState(session.key() !== null);
  useEffect(() => {
    const out = () => setSignedIn(false);
    window.addEventListener('sitesync:signed-out', out);
    return () => window.removeEventListener('sitesync:signed-out', out);
  }, []);
  return (
    <LocationProvider>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('/')}>
          sitesync
        </a>
        {signedIn ? (
          <nav aria-label="Main">
            <a href={href('/')}>Estate</a>
            <a href={href('/onboard')}>Onboard</a>
            <a href={href('/dead-letters')}>Dead letters</a>
            <button type="button" class="link" onClick={() => session.signOut()}>
              Sign out
            </button>
          </nav>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {signedIn ? <Routes /> : <SignIn onSignedIn={() => setSignedIn(true)} />}
      </main>
    </LocationProvider>
  );
}

function Routes() {
  return (
    <Router>
      <Route path={`${BASE}/`} component={EstateScreen} />
      <Route path={BASE} component={EstateScreen} />
      <Route path={`${BASE}/onboard`} component={OnboardScreen} />
      <Route path={`${BASE}/dead-letters`} component={DeadLettersScreen} />
      <Route path={`${BASE}/customers/:customerId`} component={CustomerScreen} />
      <Route path={`${BASE}/customers/:customerId/held-deletions`} component={HeldDeletionsScreen} />
      <Route path={`${BASE}/customers/:customerId/users`} component={UsersScreen} />
      <Route path={`${BASE}/customers/:customerId/users/:userId`} component={UserScreen} />
      <Route path={`${BASE}/customers/:customerId/configuration`} component={ConfigurationScreen} />
      <Route path={`${BASE}/customers/:customerId/configuration/:section`} component={ConfigurationScreen} />
      <Route path={`${BASE}/customers/:customerId/numbers`} component={NumbersScreen} />
      <Route path={`${BASE}/customers/:customerId/provisioning`} component={ProvisioningScreen} />
      <Route default component={NotFound} />
    </Router>
  );
}

function NotFound() {
  const { path } = useLocation();
  return (
    <>
      <h1>Not found</h1>
      <p class="state empty">
        There is no console page at <code>{path}</code>. <a href={href('/')}>Go to the estate</a>.
      </p>
    </>
  );
}
